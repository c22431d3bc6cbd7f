/**
 * Compile the protocol driver (`ffi/driver/ref_driver.cpp`) against a reference build's own headers and static
 * libraries, into `<build entry>/../driver-<id>/crossval-ref-driver`, where the id hashes the driver source, the
 * library build and the compile command: changing the driver recompiles it (seconds) without rebuilding the
 * libraries (minutes). Atomic like the library build: compiled and checked (`hello`) in a staging folder, renamed
 * into place under a lock.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { EntryLock } from "../../lock/mod.ts";
import type { ReferenceBuildEvent } from "./build_events.ts";
import type { ReferenceBuild } from "./build_reference.ts";
import { ReferenceProcess } from "../ref_process.ts";
import { ReferenceBuildError, runLogged } from "./_run.ts";

/** File name of the driver executable. */
export const DRIVER_NAME = "crossval-ref-driver";

/** A compiled driver. */
export interface ReferenceDriver {
  /** Absolute path of the executable. */
  readonly path: string;
  /** The driver's id (12 hex digits). */
  readonly id: string;
  /** The library build it is linked with. */
  readonly build: ReferenceBuild;
  /** The identity it reports in `hello` (`library`, `commit`, `build_flags`, ...). */
  readonly identity: Readonly<Record<string, string>>;
}

/** Options of {@link ensureDriver}. */
export interface EnsureDriverOptions {
  /** Progress events. */
  readonly onEvent?: (event: ReferenceBuildEvent) => void;
  /** Stops the compile with the signal's reason. */
  readonly signal?: AbortSignal;
  /** `nice` increment of the compiler (default 10). */
  readonly niceness?: number;
}

/** Path of the driver source shipped with this module. */
export function driverSourcePath(): string {
  return fileURLToPath(new URL("../driver/ref_driver.cpp", import.meta.url));
}

function cString(s: string): string {
  return JSON.stringify(s);
}

/** The identity compiled into the driver (the `hello` fields it cannot learn from the library). */
export function driverIdentity(build: ReferenceBuild): Record<string, string> {
  const m = build.manifest;
  const src = m.source;
  const flags = `cmake ${m.recipe.cmakeDefines.join(" ")}; targets ${m.recipe.targets.join(",")}; ${m.compiler}` +
    (m.openmp ? "; OpenMP" : "");
  return {
    library: src.library,
    source: src.kind,
    release: src.kind === "archive" && src.commit ? src.commit.slice(0, 9) : "custom",
    version: src.commit
      ? `${src.library}@${src.commit.slice(0, 9)}${src.kind === "checkout" && src.dirty ? "-dirty" : ""}`
      : "",
    commit: src.commit,
    build_flags: flags,
  };
}

/**
 * The compiler command for the driver (pure).
 *
 * @param build The library build.
 * @param source Driver source path.
 * @param out Output executable path.
 * @returns Program and arguments.
 */
export function driverCompileCommand(build: ReferenceBuild, source: string, out: string): [string, string[]] {
  const id = driverIdentity(build);
  const defs = Object.entries(id).map(([k, v]) => `-DCROSSVAL_REF_${k.toUpperCase()}=${cString(v)}`);
  return ["c++", [
    "-std=c++17",
    "-O2",
    "-Wall",
    `-I${build.includeDir}`,
    ...defs,
    source,
    "-o",
    out,
    // One group: the static libraries refer to each other in both directions (llama -> ggml, ggml-cpu -> ggml-base).
    "-Wl,--start-group",
    ...build.libraries,
    "-Wl,--end-group",
    ...(build.manifest.openmp ? ["-fopenmp"] : []),
    "-lpthread",
    "-ldl",
    "-lm",
  ]];
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Start a compiled driver, say hello, and return its identity; the check a driver passes before it is cached.
 *
 * @param path Executable.
 * @returns The `hello` reply fields.
 * @throws {ReferenceBuildError} When it does not answer `hello` with `status=ok`.
 */
export async function helloDriver(path: string): Promise<Record<string, string>> {
  let proc: ReferenceProcess;
  try {
    // The supervisor greets the driver itself (hello, protocol major 1) and turns a crash into a report.
    proc = await ReferenceProcess.spawn({ log: "error", driver: { cmd: path, args: [] }, bulkFiles: false });
  } catch (e) {
    throw new ReferenceBuildError(`The compiled driver ${path} does not answer hello: ${(e as Error).message}`);
  }
  await using p = proc;
  const id = p.identity;
  return {
    protocol: String(id.protocol),
    protocol_minor: String(id.protocolMinor),
    ops: id.ops.join(","),
    driver: id.driver,
    driver_version: id.driverVersion,
    library: id.library,
    source: id.source,
    release: id.release,
    version: id.version,
    commit: id.commit,
    build_flags: id.buildFlags,
    backend: id.backend,
    system_info: id.systemInfo,
    abi_check: id.abiCheck,
  };
}

/**
 * Compile (or find) the driver for a build.
 *
 * @param build A finished library build (`ensureReferenceBuild`).
 * @param opts Events, abort signal, niceness.
 * @returns The driver.
 * @throws {ReferenceBuildError} When it does not compile against the reference's `llama.h` (the message quotes the
 *   compiler) or does not answer `hello`.
 * @example
 * ```ts
 * import { ensureDriver, ensureReferenceBuild, ikSourceFromEnv } from "./mod.ts";
 * // Built once per machine (`deno run -A tests/setup.ts`); found in the cache afterwards.
 * const driver = await ensureDriver(await ensureReferenceBuild(await ikSourceFromEnv()));
 * console.log(driver.path.endsWith("/crossval-ref-driver"), driver.identity.library); // true "ik_llama.cpp"
 * ```
 */
export async function ensureDriver(build: ReferenceBuild, opts: EnsureDriverOptions = {}): Promise<ReferenceDriver> {
  const emit = (e: ReferenceBuildEvent) => opts.onEvent?.(e);
  const source = driverSourcePath();
  const text = await Deno.readFile(source);
  const probeCmd = driverCompileCommand(build, "<src>", "<out>");
  const id = createHash("sha256").update(text).update(JSON.stringify(probeCmd)).update(build.manifest.built_at)
    .digest("hex").slice(0, 12);
  const keyDir = build.dir.slice(0, build.dir.lastIndexOf("/"));
  const final = `${keyDir}/driver-${id}`;
  const path = `${final}/${DRIVER_NAME}`;
  const identity = driverIdentity(build);
  if (exists(`${final}/driver.json`)) {
    emit({ type: "cached", what: "driver", dir: final });
    return { path, id, build, identity };
  }
  const locks = `${keyDir.slice(0, keyDir.lastIndexOf("/"))}/.locks`;
  await Deno.mkdir(locks, { recursive: true });
  using lock = await EntryLock.acquire(`${locks}/${keyDir.slice(keyDir.lastIndexOf("/") + 1)}-driver-${id}.lock`, {
    signal: opts.signal,
  });
  if (exists(`${final}/driver.json`)) {
    emit({ type: "cached", what: "driver", dir: final });
    return { path, id, build, identity };
  }
  for await (const e of Deno.readDir(keyDir)) {
    if (e.name.startsWith(`.staging-driver-${id}-`)) await Deno.remove(`${keyDir}/${e.name}`, { recursive: true });
  }
  if (exists(final)) await Deno.remove(final, { recursive: true });
  const staging = await Deno.makeTempDir({ dir: keyDir, prefix: `.staging-driver-${id}-` });
  const t0 = performance.now();
  try {
    emit({ type: "phase", phase: "driver", message: `compiling the protocol driver against ${build.includeDir}` });
    const out = `${staging}/${DRIVER_NAME}`;
    const [cmd, args] = driverCompileCommand(build, source, out);
    await runLogged(cmd, args, {
      logPath: `${staging}/driver.log`,
      signal: opts.signal,
      niceness: opts.niceness ?? 10,
      what: `compile the protocol driver against ${build.manifest.library} (its llama.h may differ from the one ` +
        `the driver was written for)`,
    });
    emit({ type: "phase", phase: "check", message: "checking that the driver answers hello" });
    const hello = await helloDriver(out);
    await Deno.writeTextFile(
      `${staging}/driver.json`,
      JSON.stringify(
        {
          schema: 1,
          id,
          source_sha256: createHash("sha256").update(text).digest("hex"),
          command: [cmd, ...args],
          hello,
        },
        null,
        2,
      ) + "\n",
    );
    lock.assertHeld();
    await Deno.chmod(staging, 0o755); // makeTempDir made it private; the driver is for every user of the cache
    await Deno.rename(staging, final);
    emit({ type: "done", what: "driver", dir: final, seconds: (performance.now() - t0) / 1000 });
    return { path, id, build, identity };
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}
