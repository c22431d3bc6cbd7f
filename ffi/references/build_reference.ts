/**
 * Build a C++ reference's libraries into the cache, once per machine:
 * `<cache>/references/<source key>/build-<recipe id>/` holding `lib/*.a`, `include/*.h` and `build.json`.
 *
 * The rule, as for models (`lock/`): an entry exists only when it is complete. The build runs in a temporary folder
 * beside the entry (`.staging-<recipe>-*`), under a lock per entry (`lock/entry_lock.ts`: a second process waits,
 * a killed owner's lock is released by the kernel), and the finished folder is renamed into place. An interrupted
 * build leaves only a staging folder, which the next build removes under the same lock; a failed one leaves its log
 * as `build-<recipe id>.failed.log` beside the entry, for the error message to name.
 *
 * @module
 */

import { cacheRoot, EntryLock } from "../../lock/mod.ts";
import type { ReferenceBuildEvent, ReferenceBuildPhase } from "./build_events.ts";
import { etaSeconds, parseBuildLine } from "./build_progress.ts";
import { type BuildRecipe, cpuFingerprint, recipeFor, recipeId } from "./build_recipe.ts";
import { probe, ReferenceBuildError, runLogged } from "./_run.ts";
import { type ReferenceSource, sourceKey } from "./reference_source.ts";

/** What `build.json` records: enough to say exactly which reference ran. */
export interface BuildManifest {
  /** Format of this record. */
  readonly schema: 1;
  /** Code base. */
  readonly library: string;
  /** Source: archive (path, sha256) or checkout (dir, commit, dirty hash). */
  readonly source: ReferenceSource;
  /** Cache key of the source. */
  readonly key: string;
  /** Recipe and its id. */
  readonly recipe: BuildRecipe & { readonly id: string; readonly generator: "Ninja" | "Unix Makefiles" };
  /** `c++ --version`, first line. */
  readonly compiler: string;
  /** `cmake --version`, first line. */
  readonly cmake: string;
  /** OpenMP found by CMake (the driver then links with `-fopenmp`). */
  readonly openmp: boolean;
  /** Static libraries, relative to the entry. */
  readonly libraries: readonly string[];
  /** Wall seconds per step, and in all. */
  readonly seconds: Readonly<Partial<Record<ReferenceBuildPhase, number>>> & { readonly total: number };
  /** Parallel jobs used. */
  readonly jobs: number;
  /** When it finished (RFC 3339). */
  readonly built_at: string;
}

/** A finished library build in the cache. */
export interface ReferenceBuild {
  /** The entry folder. */
  readonly dir: string;
  /** Header folder (`llama.h`, `ggml*.h`). */
  readonly includeDir: string;
  /** Absolute paths of the static libraries. */
  readonly libraries: readonly string[];
  /** The record. */
  readonly manifest: BuildManifest;
}

/** Options of {@link ensureReferenceBuild}. */
export interface EnsureReferenceBuildOptions {
  /** Cache root (default `cacheRoot()`: `BITNET_CACHE_DIR`, `$XDG_CACHE_HOME/bitnet` or `~/.cache/bitnet`). */
  readonly cacheDir?: string;
  /** Parallel compile jobs (default: `navigator.hardwareConcurrency`). */
  readonly jobs?: number;
  /** `nice` increment of the compiler processes (default 10: a build must not starve interactive work). */
  readonly niceness?: number;
  /** Progress events. */
  readonly onEvent?: (event: ReferenceBuildEvent) => void;
  /** Stops the build (the staging folder is removed) with the signal's reason. */
  readonly signal?: AbortSignal;
  /** How long to wait for another process's build of the same entry (default 1 hour). */
  readonly lockTimeoutMs?: number;
}

/** The root of reference builds: `<cache>/references`. */
export function referencesRoot(cacheDir?: string): string {
  return `${cacheDir ?? cacheRoot()}/references`;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function readManifest(dir: string): Promise<BuildManifest | null> {
  try {
    const m = JSON.parse(await Deno.readTextFile(`${dir}/build.json`)) as BuildManifest;
    return m.schema === 1 && Array.isArray(m.libraries) ? m : null;
  } catch {
    return null;
  }
}

function toBuild(dir: string, manifest: BuildManifest): ReferenceBuild {
  return { dir, includeDir: `${dir}/include`, libraries: manifest.libraries.map((l) => `${dir}/${l}`), manifest };
}

/** The machine's CPU fingerprint (see `cpuFingerprint`). */
export function machineCpu(): string {
  let info = "";
  try {
    info = Deno.readTextFileSync("/proc/cpuinfo");
  } catch {
    // not Linux: architecture only
  }
  return cpuFingerprint(info, Deno.build.arch);
}

/**
 * Where a source's build lives, without building it.
 *
 * @param source The source.
 * @param opts.cacheDir Cache root.
 * @returns The entry folder and the recipe.
 */
export function referenceBuildDir(
  source: ReferenceSource,
  opts: { cacheDir?: string } = {},
): { dir: string; recipe: BuildRecipe; id: string } {
  const recipe = recipeFor(source.library, machineCpu());
  const id = recipeId(recipe);
  return { dir: `${referencesRoot(opts.cacheDir)}/${sourceKey(source)}/build-${id}`, recipe, id };
}

/**
 * The finished build of a source, if the cache has one.
 *
 * @param source The source.
 * @param opts.cacheDir Cache root.
 * @returns The build, or null.
 */
export async function cachedReferenceBuild(
  source: ReferenceSource,
  opts: { cacheDir?: string } = {},
): Promise<ReferenceBuild | null> {
  const { dir } = referenceBuildDir(source, opts);
  const m = await readManifest(dir);
  return m && m.libraries.every((l) => exists(`${dir}/${l}`)) ? toBuild(dir, m) : null;
}

async function walk(dir: string, want: (name: string) => boolean, out: string[] = []): Promise<string[]> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory && e.name !== "CMakeFiles") await walk(p, want, out);
    else if (e.isFile && want(e.name)) out.push(p);
  }
  return out;
}

/** Bytes of a build log kept in the cache: ik_llama.cpp's warnings make a full log about 95 MB. */
const LOG_TAIL_BYTES = 4 << 20;

/** Copy the last {@link LOG_TAIL_BYTES} of a log (from a line start), saying how much was left out. */
async function copyTail(src: string, dst: string): Promise<void> {
  const size = (await Deno.stat(src)).size;
  if (size <= LOG_TAIL_BYTES) return await Deno.copyFile(src, dst);
  using f = await Deno.open(src, { read: true });
  await f.seek(size - LOG_TAIL_BYTES, Deno.SeekMode.Start);
  const buf = new Uint8Array(LOG_TAIL_BYTES);
  let n = 0;
  while (n < buf.length) {
    const r = await f.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  const nl = buf.indexOf(10);
  const head = new TextEncoder().encode(`[the first ${size - n + nl + 1} bytes of this log are left out]\n`);
  const body = buf.subarray(nl + 1, n);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  await Deno.writeFile(dst, out);
}

/** The first of `candidates` (relative to `root`) that holds `file`. */
function findDir(root: string, candidates: readonly string[], file: string): string | null {
  for (const c of candidates) if (exists(`${root}/${c}/${file}`)) return `${root}/${c}`;
  return null;
}

/**
 * Build (or find) a reference's libraries. Idempotent and safe to run from several processes at once.
 *
 * @param source Archive or checkout (`reference_source.ts`).
 * @param opts Cache root, jobs, niceness, events, abort signal.
 * @returns The finished build.
 * @throws {ReferenceBuildError} When a step fails; the message quotes the step's output and names its log.
 * @throws {Deno.errors.TimedOut} When another process holds the lock for longer than `lockTimeoutMs`.
 * @example
 * ```ts
 * import { archiveSource, ensureReferenceBuild, locateIkArchive } from "./mod.ts";
 * // The first call builds (minutes; `deno run -A tests/setup.ts` does it once per machine), later ones find it.
 * const phases = new Set<string>();
 * const build = await ensureReferenceBuild(await archiveSource(locateIkArchive()), {
 *   onEvent: (e) => phases.add(e.type),
 * });
 * console.log(build.manifest.library, build.libraries.map((l) => l.split("/").pop()), [...phases]);
 * // "ik_llama.cpp" ["libggml.a", "libllama.a"] ["cached"] (after the first build)
 * ```
 */
export async function ensureReferenceBuild(
  source: ReferenceSource,
  opts: EnsureReferenceBuildOptions = {},
): Promise<ReferenceBuild> {
  const cached = await cachedReferenceBuild(source, opts);
  const emit = (e: ReferenceBuildEvent) => opts.onEvent?.(e);
  if (cached) {
    emit({ type: "cached", what: "libraries", dir: cached.dir });
    return cached;
  }
  const { dir: final, recipe, id } = referenceBuildDir(source, opts);
  const keyDir = final.slice(0, final.lastIndexOf("/"));
  const locks = `${referencesRoot(opts.cacheDir)}/.locks`;
  await Deno.mkdir(keyDir, { recursive: true });
  await Deno.mkdir(locks, { recursive: true });
  using lock = await EntryLock.acquire(`${locks}/${sourceKey(source)}-${id}.lock`, {
    timeoutMs: opts.lockTimeoutMs ?? 3_600_000,
    signal: opts.signal,
    onWait: ({ owner }) =>
      emit({
        type: "lock",
        state: "waiting",
        message: `another process (pid ${owner?.pid ?? "?"}) is building this reference; waiting for it`,
        owner_pid: owner?.pid ?? null,
      }),
  });
  if (lock.recovered) {
    emit({ type: "lock", state: "recovered", message: lock.recovered.reason, owner_pid: lock.recovered.owner.pid });
  }
  // Someone else may have finished while we waited.
  const done = await cachedReferenceBuild(source, opts);
  if (done) {
    emit({ type: "cached", what: "libraries", dir: done.dir });
    return done;
  }
  // Staging folders of this entry are dead builds: we hold its lock. Best effort: a compiler orphaned by a killed
  // build may still be writing into one; whatever survives is removed by a later build.
  for await (const e of Deno.readDir(keyDir)) {
    if (e.name.startsWith(`.staging-${id}-`)) {
      await Deno.remove(`${keyDir}/${e.name}`, { recursive: true }).catch(() => {});
    }
  }
  if (exists(final)) await Deno.remove(final, { recursive: true }); // incomplete (no valid build.json)
  const staging = await Deno.makeTempDir({ dir: keyDir, prefix: `.staging-${id}-` });
  const failedLog = `${keyDir}/build-${id}.failed.log`;
  const log = `${staging}/build.log`;
  try {
    const built = await buildInto(source, staging, log, { ...opts, recipe, id, emit, final, lock, failedLog });
    lock.assertHeld();
    await Deno.rename(`${staging}/out`, final);
    await Deno.remove(failedLog).catch(() => {});
    emit({ type: "done", what: "libraries", dir: final, seconds: built.seconds.total });
    return toBuild(final, built);
  } catch (e) {
    await copyTail(log, failedLog).catch(() => {});
    throw e;
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}

interface BuildContext extends EnsureReferenceBuildOptions {
  readonly recipe: BuildRecipe;
  readonly id: string;
  readonly emit: (e: ReferenceBuildEvent) => void;
  readonly final: string;
  readonly lock: EntryLock;
  readonly failedLog: string;
}

async function buildInto(
  source: ReferenceSource,
  staging: string,
  log: string,
  ctx: BuildContext,
): Promise<BuildManifest> {
  const { emit, recipe, signal } = ctx;
  const niceness = ctx.niceness ?? 10;
  const jobs = ctx.jobs ?? navigator.hardwareConcurrency;
  const seconds: Partial<Record<ReferenceBuildPhase, number>> = {};
  const t0 = performance.now();
  let tPhase = t0;
  let phase: ReferenceBuildPhase | null = null;
  const enter = (p: ReferenceBuildPhase, message: string) => {
    const now = performance.now();
    if (phase) seconds[phase] = (now - tPhase) / 1000;
    phase = p;
    tPhase = now;
    emit({ type: "phase", phase: p, message });
  };
  const from = source.kind === "archive" ? source.path : source.dir;
  emit({
    type: "start",
    library: source.library,
    key: sourceKey(source),
    recipe: ctx.id,
    source: source.kind,
    from,
    dir: ctx.final,
  });

  let src: string;
  if (source.kind === "archive") {
    enter("extract", `extracting ${from}`);
    src = `${staging}/src`;
    await Deno.mkdir(src);
    await runLogged("tar", ["-xf", source.path, "-C", src, "--strip-components=1"], {
      logPath: log,
      shownLogPath: ctx.failedLog,
      signal,
      what: `extract the reference archive ${source.path}`,
    });
  } else {
    src = source.dir;
  }
  if (!exists(`${src}/CMakeLists.txt`)) {
    throw new ReferenceBuildError(
      `Cannot build the reference from ${from}: no CMakeLists.txt at its top level. ` +
        `Fix: use an archive with one top-level folder holding the source, or the root of a checkout.`,
    );
  }

  const ninja = await probe("ninja", ["--version"]);
  const generator = ninja ? "Ninja" : "Unix Makefiles";
  const build = `${staging}/build`;
  enter("configure", `cmake ${recipe.cmakeDefines.join(" ")}`);
  await runLogged("cmake", ["-S", src, "-B", build, "-G", generator, ...recipe.cmakeDefines], {
    logPath: log,
    shownLogPath: ctx.failedLog,
    signal,
    niceness,
    what: `configure ${source.library} with CMake`,
  });

  enter("build", `building ${recipe.targets.join(", ")} with ${jobs} jobs`);
  const tBuild = performance.now();
  let lastStep = -1;
  const onLine = (line: string) => {
    const p = parseBuildLine(line);
    if (!p || p.done === lastStep) return;
    lastStep = p.done;
    const elapsed = (performance.now() - tBuild) / 1000;
    emit({
      type: "progress",
      phase: "build",
      steps_done: p.done,
      steps_total: p.total,
      current: p.current,
      elapsed_s: elapsed,
      eta_s: etaSeconds(p, elapsed),
    });
  };
  await runLogged(
    "cmake",
    ["--build", build, "--parallel", String(jobs), "--target", ...recipe.targets],
    { logPath: log, shownLogPath: ctx.failedLog, signal, niceness, onLine, what: `compile ${source.library}` },
  );

  enter("install", "collecting libraries and headers");
  const out = `${staging}/out`;
  await Deno.mkdir(`${out}/lib`, { recursive: true });
  await Deno.mkdir(`${out}/include`, { recursive: true });
  const libs = (await walk(build, (n) => /^lib(llama|ggml[-\w]*)\.a$/.test(n))).sort();
  if (!libs.some((l) => l.endsWith("/libllama.a"))) {
    throw new ReferenceBuildError(
      `Cannot install the ${source.library} build: no libllama.a was produced (found: ${
        libs.map((l) => l.slice(build.length + 1)).join(", ") || "none"
      }). Full log: ${ctx.failedLog}`,
    );
  }
  const names: string[] = [];
  for (const l of libs) {
    const name = `lib/${l.slice(l.lastIndexOf("/") + 1)}`;
    await Deno.copyFile(l, `${out}/${name}`);
    names.push(name);
  }
  const llamaInc = findDir(src, ["include", "3rdparty/llama.cpp/include"], "llama.h");
  const ggmlInc = findDir(src, ["ggml/include", "3rdparty/llama.cpp/ggml/include"], "ggml.h");
  if (!llamaInc || !ggmlInc) {
    throw new ReferenceBuildError(
      `Cannot install the ${source.library} build: llama.h or ggml.h not found under ${src} ` +
        `(looked in include/, ggml/include/ and 3rdparty/llama.cpp/). Fix: use a llama.cpp-family source tree.`,
    );
  }
  for (const d of [llamaInc, ggmlInc]) {
    for await (const e of Deno.readDir(d)) {
      if (e.isFile && e.name.endsWith(".h")) await Deno.copyFile(`${d}/${e.name}`, `${out}/include/${e.name}`);
    }
  }
  const cache = await Deno.readTextFile(`${build}/CMakeCache.txt`).catch(() => "");
  const openmp = /^OpenMP_CXX_FLAGS:\w+=\S+/m.test(cache) || /^OpenMP_C_FLAGS:\w+=\S+/m.test(cache);
  seconds.install = (performance.now() - tPhase) / 1000;
  const manifest: BuildManifest = {
    schema: 1,
    library: source.library,
    source,
    key: sourceKey(source),
    recipe: { ...recipe, id: ctx.id, generator },
    compiler: ((await probe("c++", ["--version"])) ?? "unknown").split("\n")[0],
    cmake: ((await probe("cmake", ["--version"])) ?? "unknown").split("\n")[0],
    openmp,
    libraries: names,
    seconds: { ...seconds, total: (performance.now() - t0) / 1000 },
    jobs,
    built_at: new Date().toISOString(),
  };
  await Deno.writeTextFile(`${out}/build.json`, JSON.stringify(manifest, null, 2) + "\n");
  await copyTail(log, `${out}/build.log`);
  return manifest;
}
