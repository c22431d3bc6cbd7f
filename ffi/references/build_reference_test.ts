// The build machinery (lock, staging, rename, cache hit, interruption, concurrency) on a small real CMake project:
// the same code path as the ik_llama.cpp build, minutes shorter. The ik_llama.cpp build itself is exercised by
// tests/reference_ik_test.ts.
import assert from "node:assert/strict";
import type { ReferenceBuildEvent } from "./build_events.ts";
import { cachedReferenceBuild, ensureReferenceBuild, referenceBuildDir } from "./build_reference.ts";
import { ensureDriver } from "./driver_build.ts";
import { archiveSource } from "./reference_source.ts";
import { ReferenceBuildError } from "./_run.ts";

/** A llama.cpp-shaped project: targets `llama` and `ggml`, headers where the installer looks. */
async function fixtureArchive(root: string, opts: { slow?: boolean; broken?: boolean } = {}): Promise<string> {
  const src = `${root}/fake`;
  for (const d of ["ggml/src", "ggml/include", "src", "include"]) await Deno.mkdir(`${src}/${d}`, { recursive: true });
  const slow = opts.slow
    ? "add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/slow.c COMMAND sleep 4 " +
      "COMMAND ${CMAKE_COMMAND} -E copy ${CMAKE_SOURCE_DIR}/src/slow.c.in ${CMAKE_BINARY_DIR}/slow.c)\n"
    : "";
  await Deno.writeTextFile(
    `${src}/CMakeLists.txt`,
    `cmake_minimum_required(VERSION 3.14)\nproject(fake C)\n${slow}` +
      `add_library(ggml STATIC ggml/src/ggml.c)\ntarget_include_directories(ggml PUBLIC ggml/include)\n` +
      `add_library(llama STATIC src/llama.c${opts.slow ? " ${CMAKE_BINARY_DIR}/slow.c" : ""})\n` +
      `target_link_libraries(llama PUBLIC ggml)\ntarget_include_directories(llama PUBLIC include)\n`,
  );
  await Deno.writeTextFile(`${src}/ggml/src/ggml.c`, "int ggml_x(void) { return 1; }\n");
  await Deno.writeTextFile(`${src}/ggml/include/ggml.h`, "int ggml_x(void);\n");
  await Deno.writeTextFile(
    `${src}/src/llama.c`,
    opts.broken ? "this is not C\n" : '#include "ggml.h"\nint llama_x(void) { return ggml_x(); }\n',
  );
  await Deno.writeTextFile(`${src}/include/llama.h`, "int llama_x(void);\n");
  await Deno.writeTextFile(`${src}/src/slow.c.in`, "int slow_x(void) { return 2; }\n");
  const tar = `${root}/fake.tar.gz`;
  const out = await new Deno.Command("tar", { args: ["-czf", tar, "-C", root, "fake"] }).output();
  assert.ok(out.success, "tar must be available for this test");
  return tar;
}

function staging(dir: string): string[] {
  const keyDir = dir.slice(0, dir.lastIndexOf("/"));
  try {
    return [...Deno.readDirSync(keyDir)].map((e) => e.name).filter((n) => n.startsWith(".staging-"));
  } catch {
    return [];
  }
}

Deno.test("ensureReferenceBuild() builds once into the cache, then reports it cached", async () => {
  const root = await Deno.makeTempDir();
  try {
    const source = await archiveSource(await fixtureArchive(root), { library: "llama.cpp" });
    const events: ReferenceBuildEvent[] = [];
    const b = await ensureReferenceBuild(source, {
      cacheDir: `${root}/cache`,
      jobs: 2,
      niceness: 0,
      onEvent: (e) => events.push(e),
    });
    assert.deepEqual(events.map((e) => e.type).filter((t) => t === "start" || t === "done"), ["start", "done"]);
    assert.ok(events.some((e) => e.type === "progress" && e.steps_total > 0), "a build progress event");
    assert.deepEqual(b.manifest.libraries, ["lib/libggml.a", "lib/libllama.a"]);
    for (const l of b.libraries) assert.ok(Deno.statSync(l).size > 0, l);
    assert.ok(Deno.statSync(`${b.includeDir}/llama.h`).isFile);
    assert.equal(b.manifest.source.kind, "archive");
    assert.equal(b.manifest.key, source.kind === "archive" ? source.sha256 : "");
    assert.ok(b.manifest.seconds.total > 0 && b.manifest.seconds.build! > 0);
    assert.ok(b.dir.endsWith(`/references/${b.manifest.key}/build-${b.manifest.recipe.id}`));
    assert.deepEqual(staging(b.dir), []);
    const again: ReferenceBuildEvent[] = [];
    const c = await ensureReferenceBuild(source, { cacheDir: `${root}/cache`, onEvent: (e) => again.push(e) });
    assert.equal(c.dir, b.dir);
    assert.deepEqual(again.map((e) => e.type), ["cached"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a failing compile leaves no cache entry and names its log", async () => {
  const root = await Deno.makeTempDir();
  try {
    const source = await archiveSource(await fixtureArchive(root, { broken: true }), { library: "llama.cpp" });
    const err = await ensureReferenceBuild(source, { cacheDir: `${root}/cache`, jobs: 2, niceness: 0 }).catch((e) => e);
    assert.ok(err instanceof ReferenceBuildError, String(err));
    assert.match(err.message, /Cannot compile llama\.cpp/);
    assert.match(err.message, /this is not C|error/);
    const log = /Full log: (\S+)/.exec(err.message)![1];
    assert.ok(log.endsWith(".failed.log") && Deno.statSync(log).size > 0, log);
    const { dir } = referenceBuildDir(source, { cacheDir: `${root}/cache` });
    assert.throws(() => Deno.statSync(dir));
    assert.deepEqual(staging(dir), []);
    assert.equal(await cachedReferenceBuild(source, { cacheDir: `${root}/cache` }), null);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("an aborted build leaves nothing half-made, and the next one builds", async () => {
  const root = await Deno.makeTempDir();
  try {
    const source = await archiveSource(await fixtureArchive(root, { slow: true }), { library: "llama.cpp" });
    const ctl = new AbortController();
    const err = await ensureReferenceBuild(source, {
      cacheDir: `${root}/cache`,
      jobs: 2,
      niceness: 0,
      signal: ctl.signal,
      onEvent: (e) => e.type === "phase" && e.phase === "build" && setTimeout(() => ctl.abort(new Error("stop")), 300),
    }).catch((e) => e);
    assert.equal((err as Error).message, "stop");
    const { dir } = referenceBuildDir(source, { cacheDir: `${root}/cache` });
    assert.throws(() => Deno.statSync(dir));
    assert.deepEqual(staging(dir), []);
    const b = await ensureReferenceBuild(source, { cacheDir: `${root}/cache`, jobs: 2, niceness: 0 });
    assert.equal(b.dir, dir);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

const CHILD = `
import { ensureReferenceBuild } from ${JSON.stringify(new URL("./build_reference.ts", import.meta.url).href)};
import { archiveSource } from ${JSON.stringify(new URL("./reference_source.ts", import.meta.url).href)};
const [tar, cache] = Deno.args;
const events = [];
await ensureReferenceBuild(await archiveSource(tar, { library: "llama.cpp" }), {
  cacheDir: cache, jobs: 2, niceness: 0, onEvent: (e) => { events.push(e.type); console.log(JSON.stringify(e)); },
});
`;

function child(script: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("a build killed with SIGKILL is cleaned up and redone by the next one", async () => {
  const root = await Deno.makeTempDir();
  try {
    const tar = await fixtureArchive(root, { slow: true });
    const script = `${root}/child.ts`;
    await Deno.writeTextFile(script, CHILD);
    const source = await archiveSource(tar, { library: "llama.cpp" });
    const { dir } = referenceBuildDir(source, { cacheDir: `${root}/cache` });
    const p = child(script, [tar, `${root}/cache`]);
    // Wait until it is compiling (its staging folder exists and holds a build tree).
    const keyDir = dir.slice(0, dir.lastIndexOf("/"));
    for (let i = 0; i < 300 && !staging(dir).some((s) => exists(`${keyDir}/${s}/build/CMakeCache.txt`)); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(staging(dir).length > 0, "the child started building");
    p.kill("SIGKILL");
    await p.status;
    await p.stdout.cancel();
    await p.stderr.cancel();
    assert.throws(() => Deno.statSync(dir), "no entry after the kill");
    const events: ReferenceBuildEvent[] = [];
    const b = await ensureReferenceBuild(source, {
      cacheDir: `${root}/cache`,
      jobs: 2,
      niceness: 0,
      onEvent: (e) => events.push(e),
    });
    assert.equal(b.dir, dir);
    assert.ok(events.some((e) => e.type === "lock" && e.state === "recovered"), JSON.stringify(events));
    // The killed build's compiler may still finish writing into its staging folder; the entry is what counts.
    assert.ok(Deno.statSync(`${dir}/build.json`).isFile);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

Deno.test("two processes building the same reference at once build it once", async () => {
  const root = await Deno.makeTempDir();
  try {
    const tar = await fixtureArchive(root, { slow: true });
    const script = `${root}/child.ts`;
    await Deno.writeTextFile(script, CHILD);
    const a = child(script, [tar, `${root}/cache`]);
    const b = child(script, [tar, `${root}/cache`]);
    const outs = await Promise.all([a.output(), b.output()]);
    const types = outs.map((o) => {
      assert.ok(o.success, new TextDecoder().decode(o.stderr));
      return new TextDecoder().decode(o.stdout).trim().split("\n").map((l) => JSON.parse(l).type as string);
    });
    const starts = types.flat().filter((t) => t === "start").length;
    assert.equal(starts, 1, JSON.stringify(types));
    assert.ok(types.some((t) => t.includes("cached")), "the other process found the finished entry");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a driver that does not compile against a reference's llama.h fails naming the compiler output", async () => {
  const root = await Deno.makeTempDir();
  try {
    const source = await archiveSource(await fixtureArchive(root), { library: "llama.cpp" });
    const b = await ensureReferenceBuild(source, { cacheDir: `${root}/cache`, jobs: 2, niceness: 0 });
    const err = await ensureDriver(b).catch((e) => e);
    assert.ok(err instanceof ReferenceBuildError, String(err));
    assert.match(err.message, /Cannot compile the protocol driver against llama\.cpp/);
    assert.match(err.message, /error/);
    const keyDir = b.dir.slice(0, b.dir.lastIndexOf("/"));
    assert.deepEqual([...Deno.readDirSync(keyDir)].map((e) => e.name).filter((n) => n.startsWith("driver-")), []);
    assert.deepEqual(staging(b.dir), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
