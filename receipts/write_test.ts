import assert from "node:assert/strict";
import { writeFileAtomic, writeJsonAtomic } from "./write.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "write_atomic_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("writeJsonAtomic() creates the directory, replaces the file, and leaves no temporary file", async () => {
  await withDir(async (dir) => {
    await writeJsonAtomic(`${dir}/ci/r.json`, { n: 1 });
    await writeJsonAtomic(`${dir}/ci/r.json`, { n: 2 });
    assert.deepStrictEqual(JSON.parse(await Deno.readTextFile(`${dir}/ci/r.json`)), { n: 2 });
    assert.deepStrictEqual(await names(`${dir}/ci`), ["r.json"]);
  });
});

Deno.test("writeFileAtomic() replaces a symlink at the destination instead of writing through it", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/outside.txt`, "keep");
    await Deno.mkdir(`${dir}/d`);
    await Deno.symlink(`${dir}/outside.txt`, `${dir}/d/r.json`);
    await writeFileAtomic(`${dir}/d/r.json`, "{}\n");
    assert.equal(await Deno.readTextFile(`${dir}/outside.txt`), "keep");
    assert.equal((await Deno.lstat(`${dir}/d/r.json`)).isSymlink, false);
  });
});

Deno.test("writeFileAtomic() names the destination when it cannot write, and changes nothing", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "x");
    await assert.rejects(
      () => writeFileAtomic(`${dir}/file/r.json`, "{}"),
      (e: Error) => e.message.startsWith(`Cannot write ${dir}/file/r.json: `) && /It is unchanged\./.test(e.message),
    );
    await Deno.mkdir(`${dir}/r.json`);
    await assert.rejects(
      () => writeFileAtomic(`${dir}/r.json`, "{}"),
      (e: Error) => e.message.startsWith(`Cannot write ${dir}/r.json: `),
    );
    assert.deepStrictEqual(await names(dir), ["file", "r.json"], "no temporary file left behind");
  });
});

Deno.test("writeFileAtomic() removes the temporary files of writers that no longer exist", async () => {
  await withDir(async (dir) => {
    const child = new Deno.Command(Deno.execPath(), { args: ["eval", "1"] }).spawn();
    const deadPid = child.pid;
    await child.status;
    const stale = `.r.json.${deadPid}.0badc0de.tmp`;
    const live = `.r.json.${Deno.ppid}.0badc0de.tmp`; // the test runner's parent is alive
    await Deno.writeTextFile(`${dir}/${stale}`, "{");
    await Deno.writeTextFile(`${dir}/${live}`, "{");
    await writeJsonAtomic(`${dir}/r.json`, {});
    assert.deepStrictEqual(await names(dir), [live, "r.json"]);
  });
});

Deno.test("a writer SIGKILLed mid-write leaves the previous file whole, never a mix", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/r.json`;
    const mod = new URL("./write.ts", import.meta.url).href;
    // Writes ~4 MB receipts in a loop, each filled with one digit, and says when it starts.
    const code = `import { writeJsonAtomic } from ${JSON.stringify(mod)};
      console.log("writing");
      for (let i = 1; ; i++) await writeJsonAtomic(Deno.args[0], { i, fill: String(i % 10).repeat(4_000_000) });`;
    let previous = 0;
    for (let round = 0; round < 4; round++) {
      const child = new Deno.Command(Deno.execPath(), { args: ["eval", code, path], stdout: "piped" }).spawn();
      const reader = child.stdout.getReader();
      await reader.read(); // "writing"
      await new Promise((r) => setTimeout(r, 150 + 100 * round));
      child.kill("SIGKILL");
      reader.releaseLock();
      await child.stdout.cancel();
      assert.equal((await child.status).signal, "SIGKILL");
      const doc = JSON.parse(await Deno.readTextFile(path).catch(() => "null"));
      if (doc === null) continue; // killed before its first rename
      assert.equal(doc.fill, String(doc.i % 10).repeat(4_000_000), `round ${round}: a whole receipt`);
      previous = doc.i;
    }
    assert.ok(previous > 0, "the writer completed at least one write");
    await writeJsonAtomic(path, { done: true });
    assert.deepStrictEqual(await names(dir), ["r.json"], "the killed writers' temporary files are cleaned up");
  });
});

Deno.test("a writer that exits through Deno.exit mid-write leaves no temporary file", async () => {
  await withDir(async (dir) => {
    const mod = new URL("./write.ts", import.meta.url).href;
    // Exits (as the CLI's signal handlers do) while the ~40 MB write is between its open and its rename.
    const code = `import { writeFileAtomic } from ${JSON.stringify(mod)};
      const w = writeFileAtomic(Deno.args[0], new Uint8Array(40_000_000));
      setTimeout(() => Deno.exit(143), 1);
      await w;
      Deno.exit(0);`;
    const r = await new Deno.Command(Deno.execPath(), { args: ["eval", code, `${dir}/r.bin`] }).output();
    assert.equal(r.code, 143, "it exited before the write finished");
    assert.deepStrictEqual(await names(dir), []);
  });
});
