/**
 * `crossval --version [--json]`: what this build is. Our package version (from `deno.json`), the git commit when
 * known, the runtime (Deno, V8, TypeScript), the pinned llama.cpp release the binding is written for, and the kernel
 * build hash: SHA-256 of the committed `kernels-wasm/*.wasm` files, computed at run time from the bytes this process
 * would load (so a source tree, a published package and a compiled binary each report what they really carry).
 *
 * The kernel hash is reproducible from a shell:
 * `(cd kernels-wasm && sha256sum kernels.wasm kernels_relaxed.wasm | sha256sum)`.
 *
 * And the WebGPU adapter `--backend webgpu` would run on (`describeWebGpu`: the adapter only, no device is created),
 * waited for at most {@link ADAPTER_TIMEOUT_MS} so `--version` never hangs on a broken GPU driver.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { describeWebGpu, type WebGpuReport } from "../engine/backends/webgpu/mod.ts";
import { PINNED_LLAMA } from "../ffi/library.ts";
import { toolInfo } from "../receipts/provenance.ts";
import { printJson } from "./_output.ts";

/**
 * The committed kernel modules, in the order they are hashed (byte order of their names, as `sha256sum` lists
 * them when given in this order). `tests/dist_version_test.ts` fails when `kernels-wasm/` holds a different set.
 */
export const KERNEL_FILES: readonly string[] = ["kernels.wasm", "kernels_relaxed.wasm"];

/**
 * How long `--version` waits for the WebGPU adapter, ms. Measured on a machine without a GPU: 20-40 ms when wgpu
 * finds no adapter, 220-380 ms when it offers Mesa's llvmpipe (it initialises the GL stack); a GPU driver that
 * takes longer than this is reported as unavailable, with the timeout as the reason.
 */
export const ADAPTER_TIMEOUT_MS = 2000;

/** The WebGPU adapter in `--version` (snake_case keys, as every `--json` output). */
export interface VersionWebGpu {
  /** An adapter was found. */
  readonly available: boolean;
  /** Why not, with the fix (when `available` is false). */
  readonly reason?: string;
  /** `GPUAdapterInfo.vendor`. */
  readonly vendor: string;
  /** `GPUAdapterInfo.architecture`. */
  readonly architecture: string;
  /** `GPUAdapterInfo.device`. */
  readonly device: string;
  /** `GPUAdapterInfo.description`. */
  readonly description: string;
  /** A software/CPU adapter (Mesa's llvmpipe and the like). */
  readonly is_fallback_adapter: boolean;
  /** One line naming it (` [CPU fallback]` appended for a software adapter). */
  readonly label: string;
  /** The limits the backend uses (absent without an adapter). */
  readonly limits?: Readonly<Record<string, number>>;
  /** WGSL language features the kernels can use. */
  readonly wgsl_features: readonly string[];
}

/** One hashed kernel module. */
export interface KernelFileHash {
  /** File name inside `kernels-wasm/`. */
  readonly name: string;
  /** SHA-256 of its bytes, lowercase hex. */
  readonly sha256: string;
  /** Size in bytes. */
  readonly bytes: number;
}

/** Everything `crossval --version` reports. */
export interface VersionInfo {
  /** Package name (`@bitnet/crossval`). */
  readonly name: string;
  /** Package version from `deno.json`. */
  readonly version: string;
  /** Git commit of the checkout (`CROSSVAL_COMMIT` overrides), `"unknown"` outside a checkout. */
  readonly commit: string;
  /** True when the checkout had uncommitted changes to tracked files. */
  readonly dirty: boolean;
  /** True inside a `deno compile` binary. */
  readonly standalone: boolean;
  /** Runtime versions. */
  readonly runtime: { readonly deno: string; readonly v8: string; readonly typescript: string };
  /** The llama.cpp release the FFI binding is written for (`ffi/library.ts` `PINNED_LLAMA`). */
  readonly llama_cpp: {
    readonly release: string;
    readonly version: string;
    readonly commit: string;
    readonly npm_package: string;
    readonly package_version: string;
  };
  /** Kernel build: combined hash and one entry per module file. */
  readonly kernels: { readonly sha256: string; readonly files: readonly KernelFileHash[] };
  /** The WebGPU adapter of this machine, or why there is none. */
  readonly webgpu: VersionWebGpu;
}

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readKernel(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  if (url.protocol === "file:") {
    try {
      return await Deno.readFile(url);
    } catch (e) {
      throw new Error(
        `Cannot hash the kernel module ${decodeURIComponent(url.pathname)}: ${(e as Error).message}. ` +
          `Restore it (git checkout kernels-wasm/) or rebuild it with: deno task build:wasm` +
          (Deno.build.standalone ? " (a compiled binary must be built with deno task compile, which embeds it)" : ""),
        { cause: e },
      );
    }
  }
  const res = await fetch(url);
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`Cannot hash the kernel module ${url.href}: HTTP ${res.status}. Check the package is complete.`);
  }
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Hash the committed kernel modules.
 *
 * @param dir URL of the `kernels-wasm/` directory (default: the one next to this package).
 * @returns The combined SHA-256 (over the `sha256sum`-format lines `"<hex>  <name>\n"`) and each file's hash.
 * @throws {Error} When a module file cannot be read; the message names the file and how to restore it.
 * @example
 * ```ts
 * import { kernelBuildHash } from "./version.ts";
 * const k = await kernelBuildHash();
 * console.log(k.sha256.length, k.files.map((f) => f.name)); // 64 ["kernels.wasm", "kernels_relaxed.wasm"]
 * ```
 */
export async function kernelBuildHash(
  dir: URL = new URL("../kernels-wasm/", import.meta.url),
): Promise<VersionInfo["kernels"]> {
  const files: KernelFileHash[] = [];
  for (const name of KERNEL_FILES) {
    const bytes = await readKernel(new URL(name, dir));
    files.push({ name, sha256: hex(await crypto.subtle.digest("SHA-256", bytes)), bytes: bytes.byteLength });
  }
  const lines = files.map((f) => `${f.sha256}  ${f.name}\n`).join("");
  return { sha256: hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(lines))), files };
}

/**
 * The adapter report in `--version`'s naming.
 *
 * @param r What `describeWebGpu` found.
 * @returns The same facts with snake_case keys.
 * @example
 * ```ts
 * import { describeWebGpu } from "../engine/backends/webgpu/mod.ts";
 * import { versionWebGpu } from "./version.ts";
 * const w = versionWebGpu(await describeWebGpu({ timeoutMs: 2000 }));
 * console.log(w.available ? w.label : w.reason);
 * ```
 */
export function versionWebGpu(r: WebGpuReport): VersionWebGpu {
  return {
    available: r.available,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    vendor: r.vendor,
    architecture: r.architecture,
    device: r.device,
    description: r.description,
    is_fallback_adapter: r.isFallbackAdapter,
    label: r.label,
    ...(r.limits ? { limits: snakeLimits(r.limits) } : {}),
    wgsl_features: r.wgslFeatures,
  };
}

function snakeLimits(limits: object): Record<string, number> {
  return Object.fromEntries(
    Object.entries(limits).map(([k, v]) => [k.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase(), v as number]),
  );
}

/**
 * Collect the version report.
 *
 * @returns Package, commit, runtime, pinned llama.cpp, kernel hashes and the WebGPU adapter.
 * @throws {Error} When a kernel module cannot be read (see {@link kernelBuildHash}).
 * @example
 * ```ts
 * import { versionInfo } from "./version.ts";
 * const v = await versionInfo();
 * console.log(v.version, v.llama_cpp.release, v.webgpu.label); // "0.1.0" "v0.5.0" and the adapter, or "no WebGPU adapter"
 * ```
 */
export async function versionInfo(): Promise<VersionInfo> {
  // The adapter search (the slowest part: the GPU stack initialises) overlaps the git call and the hashing.
  const [tool, kernels, adapter] = await Promise.all([
    toolInfo(),
    kernelBuildHash(),
    describeWebGpu({ timeoutMs: ADAPTER_TIMEOUT_MS }),
  ]);
  return {
    name: denoJson.name,
    version: denoJson.version,
    commit: tool.commit,
    dirty: tool.dirty,
    standalone: Deno.build.standalone,
    runtime: { deno: Deno.version.deno, v8: Deno.version.v8, typescript: Deno.version.typescript },
    llama_cpp: {
      release: PINNED_LLAMA.release,
      version: PINNED_LLAMA.version,
      commit: PINNED_LLAMA.commit,
      npm_package: PINNED_LLAMA.npmPackage,
      package_version: PINNED_LLAMA.packageVersion,
    },
    kernels,
    webgpu: versionWebGpu(adapter),
  };
}

/** The version report as the lines `crossval --version` prints. */
export function formatVersion(v: VersionInfo): string {
  const commit = v.commit === "unknown"
    ? "commit unknown"
    : `commit ${v.commit.slice(0, 12)}${v.dirty ? "+dirty" : ""}`;
  return [
    `crossval ${v.version} (${v.name}, ${commit}${v.standalone ? ", standalone binary" : ""})`,
    `deno ${v.runtime.deno}, v8 ${v.runtime.v8}, typescript ${v.runtime.typescript}`,
    `llama.cpp ${v.llama_cpp.release} (commit ${v.llama_cpp.commit.slice(0, 12)}; ` +
    `npm ${v.llama_cpp.npm_package}@${v.llama_cpp.package_version})`,
    `kernels sha256 ${v.kernels.sha256} (${
      v.kernels.files.map((f) => `${f.name} ${f.sha256.slice(0, 12)}`).join(", ")
    })`,
    v.webgpu.available
      ? `webgpu ${v.webgpu.label} (vendor ${v.webgpu.vendor || "?"}, device ${v.webgpu.device || "?"}` +
        `${v.webgpu.architecture ? `, ${v.webgpu.architecture}` : ""})`
      : `webgpu none: ${v.webgpu.reason}`,
  ].join("\n");
}

/** Flags of `--version`. */
export interface VersionFlags {
  json?: boolean;
}

/** Print the version report; returns the exit code. */
export async function versionCommand(flags: VersionFlags): Promise<number> {
  const v = await versionInfo();
  if (flags.json) printJson(v);
  else console.log(formatVersion(v));
  return 0;
}
