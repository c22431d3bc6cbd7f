/**
 * Where the llama.cpp reference library comes from: the pinned prebuilt release in the npm package
 * `@node-llama-cpp/linux-x64@3.22.1` (llama.cpp v0.5.0), or the user's own build through `BITNET_CPP_DIR`.
 *
 * @module
 */

/** The pinned reference release. */
export const PINNED_LLAMA = {
  /** npm package holding the prebuilt libraries. */
  npmPackage: "@node-llama-cpp/linux-x64",
  /** npm package holding the exact source (`package/llama/gitRelease.bundle`). */
  sourcePackage: "node-llama-cpp",
  /** Version of both packages. */
  packageVersion: "3.22.1",
  /** llama.cpp release tag built into the package. */
  release: "v0.5.0",
  /** Commit of the source bundle. */
  commit: "de3ff815ea7d559ee917f063901b8986f038abc6",
  /**
   * `LLAMA_VERSION_BASE` of that commit (`CMakeLists.txt`); `llama_version()` of the prebuilt library reports
   * it with the `-dev` suffix because `LLAMA_BUILD_IS_DEV` defaults to ON.
   */
  version: "0.5.0",
} as const;

/** Paths of the shared libraries that make up one llama.cpp build. */
export interface LlamaLibraryLocation {
  /** Where the libraries were found. */
  readonly source: "npm" | "BITNET_CPP_DIR";
  /** Directory holding the libraries (and the dynamically loaded CPU backends). */
  readonly dir: string;
  /** `libllama` path. */
  readonly llama: string;
  /** `libggml` path (backend registry). */
  readonly ggml: string;
  /** `libggml-base` path (tensor types, quant functions). */
  readonly ggmlBase: string;
  /** Release label: `v0.5.0` for the pinned package, `custom` for a user build. */
  readonly release: string;
  /** Headers directory for a user build (`<BITNET_CPP_DIR>/include`), if present. */
  readonly includeDir?: string;
}

/** The reference library cannot be found or loaded; the message says how to fix it. */
export class LibraryLoadError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LibraryLoadError";
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function findLib(dirs: string[], names: string[]): string | undefined {
  for (const d of dirs) {
    for (const n of names) if (exists(`${d}/${n}`)) return `${d}/${n}`;
    try {
      for (const e of Deno.readDirSync(d)) {
        for (const n of names) {
          const stem = n.replace(/\.so$/, "");
          if (e.name.startsWith(`${stem}.`) && e.name.includes(".so")) return `${d}/${e.name}`;
        }
      }
    } catch {
      // directory absent: try the next one
    }
  }
  return undefined;
}

function locateUserBuild(root: string): LlamaLibraryLocation {
  const dirs = ["build/bin", "build/src", "build/ggml/src", "build", "lib", "."].map((d) => `${root}/${d}`);
  const llama = findLib(dirs, ["libllama.so"]);
  const ggml = findLib(dirs, ["libggml.so"]);
  const ggmlBase = findLib(dirs, ["libggml-base.so"]);
  if (!llama || !ggml || !ggmlBase) {
    const missing = [!llama && "libllama.so", !ggml && "libggml.so", !ggmlBase && "libggml-base.so"].filter(Boolean);
    throw new LibraryLoadError(
      `Cannot find the llama.cpp libraries in BITNET_CPP_DIR="${root}": missing ${missing.join(", ")} under ` +
        `build/bin, build/src or build/ggml/src. Build it as a shared library ` +
        `(cmake -B build -DBUILD_SHARED_LIBS=ON && cmake --build build -j), or unset BITNET_CPP_DIR to use the ` +
        `pinned release ${PINNED_LLAMA.release} from npm.`,
    );
  }
  const dir = llama.slice(0, llama.lastIndexOf("/"));
  const includeDir = exists(`${root}/include/llama.h`) ? `${root}/include` : undefined;
  return {
    source: "BITNET_CPP_DIR",
    dir,
    llama,
    ggml,
    ggmlBase,
    release: "custom",
    ...(includeDir ? { includeDir } : {}),
  };
}

/**
 * Where the pinned package's libraries would be, given the package directory (`.../@node-llama-cpp/linux-x64`).
 * Returns why it does not qualify instead, as one clause for an error message.
 */
function npmLocation(packageDir: string): LlamaLibraryLocation | string {
  const dir = `${packageDir}/bins/linux-x64`;
  const loc: LlamaLibraryLocation = {
    source: "npm",
    dir,
    llama: `${dir}/libllama.v0.5.0.so`,
    ggml: `${dir}/libggml.v0.5.0.so`,
    ggmlBase: `${dir}/libggml-base.so`,
    release: PINNED_LLAMA.release,
  };
  const missing = [loc.llama, loc.ggml, loc.ggmlBase].filter((p) => !exists(p));
  return missing.length ? `${packageDir} lacks ${missing.map((p) => p.slice(dir.length + 1)).join(", ")}` : loc;
}

/**
 * Find the pinned npm package in a `node_modules` directory on disk, the way Node resolves a package: in `from`
 * and each of its parents. This is how a `deno compile` binary finds llama.cpp (its libraries must be real files
 * for `dlopen` and for ggml's backend loader, so the binary does not carry them): run
 * `npm i @node-llama-cpp/linux-x64@3.22.1` in the project directory.
 *
 * @param from Directories to start from (default: the working directory, then the running executable's directory).
 * @returns `location` of the first package of the pinned version with all three libraries (absent when none), and
 *   why each other package found on the way was rejected (wrong version, missing libraries).
 * @example
 * ```ts
 * import { findLlamaNpmPackage } from "./library.ts";
 * const found = findLlamaNpmPackage([Deno.cwd()]);
 * console.log(found.location?.release ?? found.rejected); // "v0.5.0" from a checkout
 * ```
 */
export function findLlamaNpmPackage(
  from: readonly string[] = [Deno.cwd(), Deno.execPath().replace(/\/[^/]*$/, "")],
): { readonly location?: LlamaLibraryLocation; readonly rejected: readonly string[] } {
  const rejected: string[] = [];
  const seen = new Set<string>();
  for (const start of from) {
    for (let d = start.replace(/\/+$/, "") || "/";; d = d.replace(/\/[^/]*$/, "") || "/") {
      const pkg = `${d === "/" ? "" : d}/node_modules/${PINNED_LLAMA.npmPackage}`;
      if (!seen.has(pkg) && exists(`${pkg}/package.json`)) {
        seen.add(pkg);
        let version: unknown;
        try {
          version = JSON.parse(Deno.readTextFileSync(`${pkg}/package.json`)).version;
        } catch (e) {
          version = `unreadable (${(e as Error).message})`;
        }
        if (version !== PINNED_LLAMA.packageVersion) {
          rejected.push(`${pkg} is version ${String(version)}, not ${PINNED_LLAMA.packageVersion}`);
        } else {
          const loc = npmLocation(pkg);
          if (typeof loc !== "string") return { location: loc, rejected };
          rejected.push(loc);
        }
      }
      if (d === "/") break;
    }
  }
  return { rejected };
}

/**
 * Find the llama.cpp shared libraries: `BITNET_CPP_DIR` when set, else the pinned npm package, imported as this
 * package's dependency (a checkout after `deno install`, or `jsr:`), else found in a `node_modules` directory on
 * disk ({@link findLlamaNpmPackage}; how a compiled binary finds it).
 *
 * @param opts.cppDir Overrides `BITNET_CPP_DIR`.
 * @returns Paths of the libraries.
 * @throws {LibraryLoadError} When no library is found; the message names both ways to provide one.
 * @example
 * ```ts
 * import { locateLlamaLibrary } from "./library.ts";
 * const loc = await locateLlamaLibrary();
 * console.log(loc.release); // "v0.5.0"
 * ```
 */
export async function locateLlamaLibrary(opts: { cppDir?: string } = {}): Promise<LlamaLibraryLocation> {
  const cppDir = opts.cppDir ?? Deno.env.get("BITNET_CPP_DIR");
  if (cppDir) return locateUserBuild(cppDir);
  const reasons: string[] = [];
  let importError: unknown;
  try {
    const mod = await import("@node-llama-cpp/linux-x64");
    // getBinsDir() is `<package>/bins`; inside a compiled binary it names the embedded copy, which holds no libraries.
    const loc = npmLocation(mod.getBinsDir().binsDir.replace(/\/bins\/?$/, ""));
    if (typeof loc !== "string") return loc;
    reasons.push(loc);
  } catch (e) {
    importError = e;
    reasons.push(`the npm package ${PINNED_LLAMA.npmPackage} did not load (${(e as Error).message.split("\n")[0]})`);
  }
  const found = findLlamaNpmPackage();
  if (found.location) return found.location;
  reasons.push(...found.rejected);
  if (found.rejected.length === 0) {
    reasons.push(
      `no node_modules/${PINNED_LLAMA.npmPackage} in ${Deno.cwd()}, beside ${Deno.execPath()}, or in their parents`,
    );
  }
  throw new LibraryLoadError(
    `Cannot find the pinned llama.cpp ${PINNED_LLAMA.release}: ${reasons.join("; ")}. ` +
      `Fix: run "npm i ${PINNED_LLAMA.npmPackage}@${PINNED_LLAMA.packageVersion}" in this directory (or run from a ` +
      `checkout after deno install, deleting node_modules first if it is incomplete), or set BITNET_CPP_DIR to your ` +
      `own llama.cpp build.`,
    importError ? { cause: importError } : undefined,
  );
}

/** glibc's `RTLD_NOW | RTLD_NODELETE`. */
const RTLD_NOW_NODELETE = 0x0002 | 0x1000;

/**
 * Keep a shared library mapped until the process ends, whatever later closes it. `Deno.dlopen` handles are
 * closed when the JavaScript scope that opened them ends (a worker, a test module), and ggml must not be unloaded
 * and loaded again in one process: its static initializers run again (ggml.cpp's terminate-handler setup asserts
 * `prev != ggml_uncaught_exception` and aborts), and the process keeps pointers into the unloaded copy. A second
 * `dlopen` of the same file with `RTLD_NODELETE` pins it (glibc). Does nothing where libc cannot be opened as
 * `libc.so.6` (not glibc Linux), where libraries are not unloaded this way.
 *
 * @param path A library that is (or is about to be) loaded.
 * @throws {LibraryLoadError} When glibc cannot open the library.
 */
export function pinLibrary(path: string): void {
  if (Deno.build.os !== "linux") return;
  let libc: Deno.DynamicLibrary<{ dlopen: { parameters: ["buffer", "i32"]; result: "pointer" } }>;
  try {
    libc = Deno.dlopen("libc.so.6", { dlopen: { parameters: ["buffer", "i32"], result: "pointer" } });
  } catch {
    return; // musl and other libcs: no libc.so.6
  }
  try {
    const h = libc.symbols.dlopen(new TextEncoder().encode(path + "\0"), RTLD_NOW_NODELETE);
    if (h === null) {
      throw new LibraryLoadError(
        `Cannot keep "${path}" loaded (dlopen with RTLD_NODELETE failed). Check that the file is a complete ` +
          `shared library for this machine, or reinstall the npm dependencies (rm -rf node_modules).`,
      );
    }
  } finally {
    libc.close();
  }
}
