/**
 * Open the llama.cpp reference library once per process: check the FFI permission, locate the libraries
 * (`library.ts`), refuse an ABI the binding was not written for, route llama.cpp's log into a ring buffer, and
 * load the CPU backends (`ggml_backend_load_all_from_path`, without which loading a model fails with
 * "no backends are loaded").
 *
 * The libraries stay loaded for the life of the process: llama.cpp keeps global state (logger, backend registry,
 * CPU thread pools) that is not safe to unload while anything may still reference it.
 *
 * @module
 */

import { compareAbi, probeAbi } from "./abi_probe.ts";
import {
  LibraryLoadError,
  type LlamaLibraryLocation,
  locateLlamaLibrary,
  pinLibrary,
  PINNED_LLAMA,
} from "./library.ts";
import { LlamaLog } from "./llama_log.ts";
import { GGML_BASE_SYMBOLS, GGML_SYMBOLS, LLAMA_SYMBOLS, type LlamaSymbols } from "./_symbols.ts";

/** One compute device registered with ggml. */
export interface LlamaDevice {
  /** Device name (`CPU`). */
  readonly name: string;
  /** Description (for the CPU: the processor model). */
  readonly description: string;
}

/** What was loaded, for receipts and `info()`. */
export interface LlamaLibraryInfo {
  /** `npm` (pinned prebuilt) or `BITNET_CPP_DIR` (user build). */
  readonly source: "npm" | "BITNET_CPP_DIR";
  /** Directory of the libraries. */
  readonly dir: string;
  /** Release label: `v0.5.0` for the pinned package, `custom` for a user build. */
  readonly release: string;
  /** `llama_version()`. */
  readonly version: string;
  /** `ggml_version()`. */
  readonly ggmlVersion: string;
  /** `ggml_commit()`. */
  readonly ggmlCommit: string;
  /** Commit of the llama.cpp source the binding was proved against. */
  readonly bindingCommit: string;
  /** How the ABI was established: the pinned release itself, or a probe of the build's own header. */
  readonly abiCheck: "pinned" | "header-probe";
  /** CPU backend variant chosen by ggml (`zen4`, `haswell`, ...) when backends are loaded dynamically. */
  readonly cpuVariant?: string;
  /** Registered devices. */
  readonly devices: readonly LlamaDevice[];
  /** `llama_print_system_info()`: CPU features compiled in. */
  readonly systemInfo: string;
}

/** The process-wide log: llama.cpp's logger is global, so there is one buffer for all models. */
const LOG = new LlamaLog();
const LOADED = new Map<string, Promise<LlamaLibrary>>();
/** Kept alive for the life of the process: llama.cpp holds the pointer. */
const LOG_CALLBACKS: { close(): void }[] = [];

/**
 * The captured llama.cpp log (all libraries, all models).
 *
 * @returns The process-wide ring buffer.
 * @example
 * ```ts
 * import { llamaLog } from "./llama_library.ts";
 * import { CppModel } from "./cpp_model.ts";
 * import { llamaSourceDir } from "./llama_source.ts";
 * const vocabFile = `${await llamaSourceDir()}/models/ggml-vocab-llama-bpe.gguf`;
 * const mark = llamaLog().seq;
 * using _vocab = await CppModel.load(vocabFile, { vocabOnly: true });
 * const lines = llamaLog().since(mark); // what llama.cpp said while loading it
 * console.log(lines.some((l) => l.text.startsWith("llama_model_loader: ")), lines[0].level); // true "info"
 * ```
 */
export function llamaLog(): LlamaLog {
  return LOG;
}

/**
 * Fail unless Deno grants the FFI permission (`--allow-ffi` or `-A`).
 *
 * @throws {LibraryLoadError} When the permission is not granted; the message says how to grant it.
 */
export function assertFfiPermission(): void {
  const state = Deno.permissions.querySync({ name: "ffi" }).state;
  if (state !== "granted") {
    throw new LibraryLoadError(
      `Cannot load the llama.cpp reference: the FFI permission is not granted (state: ${state}). ` +
        `Run with --allow-ffi or -A, not both (tests: deno test -A; CLI: deno run -A cli/main.ts).`,
    );
  }
}

function cstr(p: Deno.PointerValue): string {
  return p ? Deno.UnsafePointerView.getCString(p) : "";
}

/** The `libggml-cpu-<variant>.so` from `dir` mapped into this process (Linux `/proc/self/maps`), if any. */
function loadedCpuVariant(dir: string): string | undefined {
  try {
    const real = Deno.realPathSync(dir);
    const maps = Deno.readTextFileSync("/proc/self/maps");
    for (const m of maps.matchAll(/(\/\S+)\/libggml-cpu-([\w-]+)\.so$/gm)) if (m[1] === real) return m[2];
  } catch {
    // not Linux, or no read permission: the variant stays unknown
  }
  return undefined;
}

/**
 * When this JavaScript scope ends (process exit, or the end of a worker or test module that loaded the library),
 * give llama.cpp back its default logger before the callback goes away with the scope: the library stays mapped
 * for the life of the process, so a later log line (another module, a destructor at exit) must not call into a
 * freed callback.
 */
function detachLogAtUnload(s: LlamaSymbols): void {
  globalThis.addEventListener("unload", () => {
    s.llama.llama_log_set(null, null);
  }, { once: true });
}

function cBytes(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0");
}

function openAll(loc: LlamaLibraryLocation): LlamaSymbols {
  const open = <S extends Deno.ForeignLibraryInterface>(path: string, syms: S) => {
    try {
      return Deno.dlopen(path, syms).symbols as Record<string, unknown>;
    } catch (e) {
      throw new LibraryLoadError(
        `Cannot open "${path}": ${(e as Error).message}. ` +
          (loc.source === "npm"
            ? `Delete node_modules and run again, or set BITNET_CPP_DIR to your own llama.cpp build.`
            : `Check that BITNET_CPP_DIR holds a complete shared build of llama.cpp ${PINNED_LLAMA.release}.`),
        { cause: e },
      );
    }
  };
  // Order matters for the dynamic loader only through RUNPATH ($ORIGIN), which all three share.
  const base = open(loc.ggmlBase, GGML_BASE_SYMBOLS);
  const ggml = open(loc.ggml, GGML_SYMBOLS);
  const llama = open(loc.llama, LLAMA_SYMBOLS);
  // Loaded once per process for good: ggml cannot be unloaded and loaded again (see pinLibrary).
  for (const p of [loc.ggmlBase, loc.ggml, loc.llama]) pinLibrary(p);
  const missing = [
    ...Object.keys(LLAMA_SYMBOLS).filter((k) => !llama[k]).map((k) => `${k} (libllama)`),
    ...Object.keys(GGML_SYMBOLS).filter((k) => !ggml[k]).map((k) => `${k} (libggml)`),
    ...Object.keys(GGML_BASE_SYMBOLS).filter((k) => !base[k]).map((k) => `${k} (libggml-base)`),
  ];
  if (missing.length) {
    const version = typeof llama.llama_version === "function" ? cstr(llama.llama_version() as Deno.PointerValue) : "";
    throw new LibraryLoadError(
      `Cannot use the llama.cpp library in "${loc.dir}": it lacks ${missing.length} function(s) the binding needs ` +
        `(${missing.slice(0, 6).join(", ")}${missing.length > 6 ? ", ..." : ""}); the binding is written for ` +
        `${PINNED_LLAMA.release} (version ${PINNED_LLAMA.version}), found ${
          version ? `version ${version}` : "a library without llama_version()"
        }. Build llama.cpp ${PINNED_LLAMA.release} (commit ${PINNED_LLAMA.commit.slice(0, 8)}), or unset ` +
        `BITNET_CPP_DIR to use the pinned release from npm.`,
    );
  }
  return { llama, ggml, base } as unknown as LlamaSymbols;
}

/**
 * For a user build: prove the struct layouts against the build's own `llama.h` before any struct crosses the
 * boundary (a wrong size would overflow a buffer on return by value).
 */
async function checkUserAbi(loc: LlamaLibraryLocation, version: string): Promise<void> {
  const root = loc.includeDir?.replace(/\/include$/, "");
  const found = `found version ${version || "unknown"} in "${loc.dir}"`;
  const fixes = `Build llama.cpp ${PINNED_LLAMA.release} (commit ${PINNED_LLAMA.commit.slice(0, 8)}) as shared ` +
    `libraries, or unset BITNET_CPP_DIR to use the pinned release from npm.`;
  if (!loc.includeDir || !root) {
    throw new LibraryLoadError(
      `Cannot verify the ABI of the llama.cpp build in BITNET_CPP_DIR: no include/llama.h next to the libraries ` +
        `(the binding is written for ${PINNED_LLAMA.release}, version ${PINNED_LLAMA.version}; ${found}). ` +
        `Point BITNET_CPP_DIR at the source tree you built (with include/ and ggml/include/). ${fixes}`,
    );
  }
  const dirs = [loc.includeDir];
  try {
    Deno.statSync(`${root}/ggml/include/ggml.h`);
    dirs.push(`${root}/ggml/include`);
  } catch {
    // an installed tree keeps ggml headers in include/ too
  }
  const r = await probeAbi(dirs);
  if (!r.ok) {
    if (r.reason === "no-compiler") {
      throw new LibraryLoadError(
        `Cannot verify the ABI of the llama.cpp build in BITNET_CPP_DIR: ${r.message}; a C compiler is needed to ` +
          `read struct layouts from ${loc.includeDir}/llama.h. Install gcc (apt-get install gcc) or set CC. ${fixes}`,
      );
    }
    throw new LibraryLoadError(
      `Cannot use the llama.cpp build in BITNET_CPP_DIR: its header ${loc.includeDir}/llama.h does not declare ` +
        `the structs the binding uses for ${PINNED_LLAMA.release} (version ${PINNED_LLAMA.version}); ${found}.\n` +
        `${r.message}\n${fixes}`,
    );
  }
  const diffs = compareAbi(r.abi);
  if (diffs.length) {
    throw new LibraryLoadError(
      `Cannot use the llama.cpp build in BITNET_CPP_DIR: its ABI differs from ${PINNED_LLAMA.release} ` +
        `(version ${PINNED_LLAMA.version}) that the binding is written for; ${found}. ` +
        `${diffs.length} difference(s) in ${loc.includeDir}/llama.h:\n  ${diffs.slice(0, 8).join("\n  ")}\n${fixes}`,
    );
  }
}

/** A loaded llama.cpp: raw symbols plus what was loaded. Shared by every model; never unloaded. */
export class LlamaLibrary {
  /** Where and what was loaded. */
  readonly info: LlamaLibraryInfo;
  /**
   * Raw bindings (unchecked C calls); used by `CppModel`. Calling them with wrong pointers crashes the process.
   * Not part of the documented API (`@ignore`): its type is the whole FFI symbol table of `_symbols.ts`.
   *
   * @ignore
   */
  readonly symbols: LlamaSymbols;

  private constructor(info: LlamaLibraryInfo, symbols: LlamaSymbols) {
    this.info = info;
    this.symbols = symbols;
  }

  /** The process-wide llama.cpp log. */
  get log(): LlamaLog {
    return LOG;
  }

  /**
   * Open (once per process and location) the llama.cpp library.
   *
   * @param opts.cppDir A llama.cpp build directory; overrides `BITNET_CPP_DIR`.
   * @returns The loaded library.
   * @throws {LibraryLoadError} Without the FFI permission, when no library is found, when a user build's ABI
   *   differs from the pinned release, or when no compute backend loads. Messages name the fix.
   * @example
   * ```ts
   * import { LlamaLibrary } from "./llama_library.ts";
   * const lib = await LlamaLibrary.open();
   * console.log(lib.info.version, lib.info.cpuVariant);
   * ```
   */
  static open(opts: { cppDir?: string } = {}): Promise<LlamaLibrary> {
    assertFfiPermission();
    const key = opts.cppDir ?? Deno.env.get("BITNET_CPP_DIR") ?? "npm";
    let p = LOADED.get(key);
    if (!p) {
      p = LlamaLibrary.#load(opts);
      LOADED.set(key, p);
      // A failed load is not cached: the user may fix the environment and retry in the same process.
      p.catch(() => LOADED.delete(key));
    }
    return p;
  }

  static async #load(opts: { cppDir?: string }): Promise<LlamaLibrary> {
    const loc = await locateLlamaLibrary(opts);
    const s = openAll(loc);
    const version = cstr(s.llama.llama_version());
    if (loc.source === "BITNET_CPP_DIR") await checkUserAbi(loc, version);
    else if (!version.startsWith(PINNED_LLAMA.version)) {
      throw new LibraryLoadError(
        `Cannot use the npm llama.cpp in "${loc.dir}": it reports version ${version}, the binding is written for ` +
          `${PINNED_LLAMA.release} (version ${PINNED_LLAMA.version}). Delete node_modules and run again so ` +
          `${PINNED_LLAMA.npmPackage}@${PINNED_LLAMA.packageVersion} is reinstalled.`,
      );
    }

    const mark = LOG.seq;
    // ggml_log_callback: void (*)(enum ggml_log_level level, const char * text, void * user_data).
    // Called on the thread that logs; loading and decoding log from the calling thread.
    const cb = new Deno.UnsafeCallback(
      { parameters: ["i32", "pointer", "pointer"], result: "void" } as const,
      (level: number, text: Deno.PointerValue) => LOG.push(level, cstr(text)),
    );
    LOG_CALLBACKS.push(cb);
    s.llama.llama_log_set(cb.pointer, null);
    detachLogAtUnload(s);
    s.llama.llama_backend_init();
    // ggml registers a backend again each time it is loaded (ggml-backend-reg.cpp, load_backend has no
    // de-duplication). Skip when this libggml already has devices: the same file reached through another path
    // (dlopen returns the loaded object for the same inode), or a build with the CPU backend linked in.
    if (Number(s.ggml.ggml_backend_dev_count()) === 0) s.ggml.ggml_backend_load_all_from_path(cBytes(loc.dir));
    const nDev = Number(s.ggml.ggml_backend_dev_count());
    if (nDev === 0) {
      throw new LibraryLoadError(
        `Cannot use llama.cpp from "${loc.dir}": no compute backend loaded (no libggml-cpu-*.so usable on this ` +
          `CPU). llama.cpp said:\n${LOG.tail(mark)}\nReinstall the package or rebuild llama.cpp.`,
      );
    }
    const devices: LlamaDevice[] = [];
    for (let i = 0; i < nDev; i++) {
      const d = s.ggml.ggml_backend_dev_get(BigInt(i));
      devices.push({
        name: cstr(s.base.ggml_backend_dev_name(d)),
        description: cstr(s.base.ggml_backend_dev_description(d)),
      });
    }
    // ggml names the variant only in its log ("load_backend: loaded CPU backend from .../libggml-cpu-zen4.so").
    // When the backend was loaded earlier (another module instance in this process), ask the dynamic loader.
    const variant = LOG.since(mark).map((l) => /loaded CPU backend from .*libggml-cpu-([\w-]+)\.so/.exec(l.text)?.[1])
      .find(Boolean) ?? loadedCpuVariant(loc.dir);
    const info: LlamaLibraryInfo = {
      source: loc.source,
      dir: loc.dir,
      release: loc.release,
      version,
      ggmlVersion: cstr(s.base.ggml_version()),
      ggmlCommit: cstr(s.base.ggml_commit()),
      bindingCommit: PINNED_LLAMA.commit,
      abiCheck: loc.source === "npm" ? "pinned" : "header-probe",
      ...(variant ? { cpuVariant: variant } : {}),
      devices,
      systemInfo: cstr(s.llama.llama_print_system_info()).trim(),
    };
    return new LlamaLibrary(info, s);
  }
}
