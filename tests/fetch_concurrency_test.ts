/**
 * Two real `crossval fetch` processes on one cache entry, and a process SIGKILLed mid-download: the cache ends
 * with one correct file, downloaded once, and the dead process's lock never blocks the next run.
 */
import assert from "node:assert/strict";
import { MAIN } from "../cli/_testing.ts";
import { FaultServer, fixtureBytes, lockfileText, sha256Hex } from "../lock/_testing.ts";
import { withTempDir } from "./_fixtures.ts";

type Line = Record<string, unknown>;

/** Starts `crossval fetch --json`; `lines` fills as the child prints. */
function spawnFetch(args: string[]): { child: Deno.ChildProcess; lines: Line[]; finished: Promise<number> } {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "fetch", "--json", ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: Line[] = [];
  const read = (async () => {
    let buffer = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += text;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        lines.push(JSON.parse(buffer.slice(0, nl)));
        buffer = buffer.slice(nl + 1);
      }
    }
  })();
  const finished = (async () => {
    const [status] = await Promise.all([child.status, read, child.stderr.cancel()]);
    return status.code;
  })();
  return { child, lines, finished };
}

const withDir = (fn: (dir: string) => Promise<void>) => withTempDir("fetch_conc_", fn);

Deno.test("two concurrent crossval fetch processes produce one correct file, downloaded once", async () => {
  await using server = new FaultServer();
  const bytes = fixtureBytes(2_000_000, 31);
  // Slow enough (~1.6 s) that the second process starts while the first still downloads, even on a busy machine.
  server.defaultFault = { kind: "slow", chunkBytes: 100_000, delayMs: 80 };
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/lock.json`, lockfileText([{ name: "m", url: server.serve("/m", bytes), bytes }]));
    const args = ["--lockfile", `${dir}/lock.json`, "--cache-dir", `${dir}/c`];
    const a = spawnFetch(args), b = spawnFetch(args);
    const codes = await Promise.all([a.finished, b.finished]);
    assert.deepStrictEqual(codes, [0, 0]);
    const statuses = [a, b].map((p) => (p.lines.at(-1) as { models: { status: string }[] }).models[0].status);
    assert.deepStrictEqual(statuses.sort(), ["cached", "downloaded"]);
    assert.equal(server.requests.length, 1, "only one process downloaded");
    assert.equal(server.bytesSent("/m"), bytes.length);
    const waiter = [a, b].find((p) => p.lines.some((l) => l.type === "cached"))!;
    assert.ok(waiter.lines.some((l) => l.type === "lock" && l.state === "waiting"), "the second process waited");
    assert.equal(sha256Hex(await Deno.readFile(`${dir}/c/${sha256Hex(bytes)}/model.gguf`)), sha256Hex(bytes));
  });
});

Deno.test("the lock of a SIGKILLed crossval fetch is recovered and its partial download resumed", async () => {
  await using server = new FaultServer();
  const bytes = fixtureBytes(4_000_000, 32);
  // ~3 s in total: the first checkpoint of the partial (every 2 s) happens before the kill.
  server.defaultFault = { kind: "slow", chunkBytes: 50_000, delayMs: 40 };
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/lock.json`, lockfileText([{ name: "m", url: server.serve("/m", bytes), bytes }]));
    const args = ["--lockfile", `${dir}/lock.json`, "--cache-dir", `${dir}/c`];
    const sidecar = `${dir}/c/${sha256Hex(bytes)}/model.gguf.partial.json`;
    const victim = spawnFetch(args);
    let checkpointed = 0;
    for (let i = 0; i < 200 && checkpointed === 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
      checkpointed = await Deno.readTextFile(sidecar).then((t) => JSON.parse(t).bytes_done, () => 0);
    }
    assert.ok(checkpointed > 0, "the victim checkpointed its partial download");
    victim.child.kill("SIGKILL");
    assert.equal(await victim.finished, 137);

    server.defaultFault = undefined;
    const next = spawnFetch(args);
    assert.equal(await next.finished, 0);
    const recovered = next.lines.find((l) => l.type === "lock" && l.state === "recovered");
    assert.equal(recovered?.owner_pid, victim.child.pid);
    const start = next.lines.find((l) => l.type === "start");
    assert.ok((start?.resume_from as number) >= checkpointed, `resumed from ${start?.resume_from}`);
    assert.equal(server.requests.at(-1)?.range, `bytes=${start?.resume_from}-`);
    assert.equal(sha256Hex(await Deno.readFile(`${dir}/c/${sha256Hex(bytes)}/model.gguf`)), sha256Hex(bytes));
  });
});
