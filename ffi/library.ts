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
 * Find the llama.cpp shared libraries: `BITNET_CPP_DIR` when set, else the pinned npm package.
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
  let binsDir: string;
  try {
    const mod = await import("@node-llama-cpp/linux-x64");
    binsDir = mod.getBinsDir().binsDir;
  } catch (e) {
    throw new LibraryLoadError(
      `Cannot find the pinned llama.cpp ${PINNED_LLAMA.release}: the npm package ` +
        `${PINNED_LLAMA.npmPackage}@${PINNED_LLAMA.packageVersion} did not load (${(e as Error).message}). ` +
        `Run from the project (deno install) so npm dependencies resolve, or set BITNET_CPP_DIR to your own llama.cpp build.`,
      { cause: e },
    );
  }
  const dir = `${binsDir}/linux-x64`;
  const loc: LlamaLibraryLocation = {
    source: "npm",
    dir,
    llama: `${dir}/libllama.v0.5.0.so`,
    ggml: `${dir}/libggml.v0.5.0.so`,
    ggmlBase: `${dir}/libggml-base.so`,
    release: PINNED_LLAMA.release,
  };
  for (const p of [loc.llama, loc.ggml, loc.ggmlBase]) {
    if (!exists(p)) {
      throw new LibraryLoadError(
        `Cannot find "${p}" in ${PINNED_LLAMA.npmPackage}@${PINNED_LLAMA.packageVersion}: the package is incomplete. ` +
          `Delete node_modules and run again, or set BITNET_CPP_DIR to your own llama.cpp build.`,
      );
    }
  }
  return loc;
}
