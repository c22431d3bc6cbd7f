/**
 * `crossval fetch` as a user runs it: real processes, the repository lockfile, exit codes, NDJSON, the TTY bar,
 * Ctrl-C, and the `ci` tier with the network forbidden by Deno's permissions.
 */
import assert from "node:assert/strict";
import { type CliResult, crossval as run, MAIN } from "../cli/_testing.ts";
import { FaultServer, fixtureBytes, lockfileText, sha256Hex } from "../lock/_testing.ts";
import { withTempDir } from "./_fixtures.ts";

const REPO = new URL("..", import.meta.url).pathname;

/** `crossval <args>` from the repository root, with its NDJSON lines parsed. */
async function crossval(
  args: string[],
  options: { perms?: string[]; env?: Record<string, string> } = {},
): Promise<CliResult & { lines: Record<string, unknown>[] }> {
  const r = await run(args, { ...options, cwd: REPO });
  const lines = r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  return { ...r, lines };
}

const withDir = (fn: (dir: string) => Promise<void>) => withTempDir("fetch_cli_", fn);

Deno.test("crossval fetch --tier ci generates and verifies the CI model with the network forbidden", async () => {
  await withDir(async (cache) => {
    // --deny-net: any HTTP request would fail with a permission error, so success proves no network was used.
    const perms = ["--allow-read", "--allow-write", "--allow-env", "--allow-sys", "--deny-net"];
    const first = await crossval(["fetch", "--tier", "ci", "--cache-dir", cache], { perms });
    assert.equal(first.code, 0, first.stderr + first.stdout);
    const report = first.lines.at(-1) as { type: string; ok: boolean; models: { status: string; path: string }[] };
    assert.equal(report.type, "report");
    assert.ok(
      report.models.length >= 1 && report.models.every((m) => m.status === "generated"),
      JSON.stringify(report),
    );
    assert.ok(first.lines.some((l) => l.type === "verified"));

    const second = await crossval(["fetch", "--tier", "ci", "--cache-dir", cache, "--json"], { perms });
    assert.equal(second.code, 0);
    assert.deepStrictEqual(
      second.lines.map((l) => l.type),
      [...report.models.flatMap(() => ["cached", "done"]), "report"],
    );
  });
});

Deno.test("crossval fetch on a TTY draws a bar, and a second run says nothing was downloaded", async () => {
  // `script` gives the child a pseudo-terminal, so stdout and stderr are TTYs as for a user.
  await using server = new FaultServer();
  const bytes = fixtureBytes(2_000_000, 21);
  server.defaultFault = { kind: "slow", chunkBytes: 200_000, delayMs: 30 };
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/lock.json`, lockfileText([{ name: "m", url: server.serve("/m", bytes), bytes }]));
    const cmd = `${Deno.execPath()} run -A ${MAIN} fetch --lockfile ${dir}/lock.json --cache-dir ${dir}/c`;
    const run = () =>
      new Deno.Command("script", { args: ["-qec", cmd, "/dev/null"], env: { NO_COLOR: "1" }, stdout: "piped" })
        .output();
    const first = await run();
    const text = new TextDecoder().decode(first.stdout);
    assert.equal(first.code, 0, text);
    assert.match(
      text,
      /m download \|[█░]+\| \d+% [\d.]+ \w+\/[\d.]+ \w+ [\d.]+ \w+\/s ETA \d+s/,
      "a cli-progress bar was drawn",
    );
    assert.match(text, /✓ m \[integration\] downloaded/);
    const second = new TextDecoder().decode((await run()).stdout);
    assert.match(second, /All 1 model is already cached and verified; nothing downloaded\./);
  });
});

Deno.test("crossval fetch exit codes: 1 for a checksum mismatch or a failed verification, 2 for usage", async () => {
  await using server = new FaultServer();
  const bytes = fixtureBytes(100_000, 22);
  await withDir(async (dir) => {
    const lock = `${dir}/lock.json`;
    await Deno.writeTextFile(lock, lockfileText([{ name: "m", url: server.serve("/m", bytes), bytes }]));
    const base = ["fetch", "--lockfile", lock, "--cache-dir", `${dir}/c`, "--json"];

    server.fault("/m", { kind: "wrong-bytes", flipAt: 5 });
    const mismatch = await crossval(base);
    assert.equal(mismatch.code, 1);
    const failed = mismatch.lines.at(-1) as { models: { error: { name: string; actual_sha256: string } }[] };
    assert.equal(failed.models[0].error.name, "ChecksumMismatchError");

    assert.equal((await crossval(base)).code, 0);
    const verify = await crossval([...base, "--verify-only"]);
    assert.equal(verify.code, 0);
    const path = `${dir}/c/${sha256Hex(bytes)}/model.gguf`;
    const corrupt = bytes.slice();
    corrupt[99_999] ^= 1;
    await Deno.writeFile(path, corrupt);
    assert.equal((await crossval([...base, "--verify-only"])).code, 1);

    assert.equal((await crossval([...base, "--model", "nope"])).code, 2);
    assert.equal((await crossval([...base, "--tier", "gold"])).code, 2);
    assert.equal((await crossval([...base, "--verify-only", "--force"])).code, 2);
    await Deno.writeTextFile(`${dir}/bad.json`, '{"schema_version": "1.0.0", "models": []}');
    const bad = await crossval(["fetch", "--lockfile", `${dir}/bad.json`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Invalid lockfile .*bad\.json: 2 problems:\n {2}- \(top level\): missing field "updated"/);
  });
});

Deno.test("crossval fetch exits 2 when the server stays down (an environment failure, not a bad file)", async () => {
  const server = new FaultServer();
  const url = `${server.origin}/m`;
  await server[Symbol.asyncDispose]();
  await withDir(async (dir) => {
    const bytes = fixtureBytes(10, 1);
    await Deno.writeTextFile(`${dir}/lock.json`, lockfileText([{ name: "m", url, bytes }]));
    // The CLI uses the default policy (6 attempts, 1 s base): offline mode fails the same way, at once.
    const r = await crossval(["fetch", "--lockfile", `${dir}/lock.json`, "--cache-dir", `${dir}/c`, "--offline"]);
    assert.equal(r.code, 2);
    const report = r.lines.at(-1) as { models: { error: { name: string } }[] };
    assert.equal(report.models[0].error.name, "DownloadError");
  });
});

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.test(`${signal} keeps the partial download checkpointed and the same command resumes it`, async () => {
    await using server = new FaultServer();
    const bytes = fixtureBytes(3_000_000, 23);
    server.defaultFault = { kind: "slow", chunkBytes: 100_000, delayMs: 40 };
    await withDir(async (dir) => {
      await Deno.writeTextFile(
        `${dir}/lock.json`,
        lockfileText([{ name: "m", url: server.serve("/m", bytes), bytes }]),
      );
      const args = ["run", "-A", MAIN, "fetch", "--lockfile", `${dir}/lock.json`, "--cache-dir", `${dir}/c`, "--json"];
      const child = new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" }).spawn();
      const lines: Record<string, unknown>[] = [];
      let interrupted = false;
      let buffer = "";
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
        buffer += text;
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = JSON.parse(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
          lines.push(line);
          if (!interrupted && line.type === "progress" && (line.bytes_done as number) >= 500_000) {
            interrupted = true;
            child.kill(signal);
          }
        }
      }
      const status = await child.status;
      await child.stderr.cancel();
      assert.equal(status.code, code);
      assert.equal(lines.at(-1)?.type, "interrupted");
      assert.equal(lines.at(-1)?.signal, signal);
      const entry = `${dir}/c/${sha256Hex(bytes)}`;
      const kept = (await Deno.stat(`${entry}/model.gguf.partial`)).size;
      const sidecar = JSON.parse(await Deno.readTextFile(`${entry}/model.gguf.partial.json`));
      assert.ok(kept >= 500_000 && kept < bytes.length && sidecar.bytes_done === kept, `kept ${kept}`);

      server.defaultFault = undefined;
      const resumed = await crossval(args.slice(3));
      assert.equal(resumed.code, 0, resumed.stderr);
      const start = resumed.lines.find((l) => l.type === "start");
      assert.equal(start?.resume_from, kept);
      assert.equal(server.requests.at(-1)?.range, `bytes=${kept}-`);
    });
  });
}
