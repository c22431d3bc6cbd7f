/**
 * Where a number came from: the tool (name, version, commit) and the machine (CPU, cores, memory, OS, runtime).
 * Every receipt carries both, so a baseline from another machine or another build is recognised as such.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };

/** The tool that produced a receipt. */
export interface ToolInfo {
  /** Package name. */
  readonly name: string;
  /** Package version. */
  readonly version: string;
  /** Git commit of the checkout, `"unknown"` outside a git checkout (e.g. a published package). */
  readonly commit: string;
  /** True when the checkout had uncommitted changes. */
  readonly dirty: boolean;
}

/** The machine that produced a receipt. */
export interface MachineInfo {
  /** CPU model name. */
  readonly cpu: string;
  /** Logical cores. */
  readonly cores: number;
  /** Total memory in bytes. */
  readonly memory_bytes: number;
  /** OS and architecture, e.g. `linux x86_64`. */
  readonly os: string;
  /** Runtime versions. */
  readonly runtime: { readonly deno: string; readonly v8: string; readonly typescript: string };
  /** Stable short hash of cpu + cores + memory + os: receipts with different fingerprints are not comparable. */
  readonly fingerprint: string;
}

const repoDir = new URL("..", import.meta.url);

async function git(args: string[]): Promise<string | undefined> {
  if (repoDir.protocol !== "file:") return undefined;
  try {
    const out = await new Deno.Command("git", { args, cwd: repoDir, stdout: "piped", stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

let toolCache: Promise<ToolInfo> | undefined;

/** Name, version and commit of this tool (cached). */
export function toolInfo(): Promise<ToolInfo> {
  toolCache ??= (async () => {
    const commit = Deno.env.get("CROSSVAL_COMMIT") ?? (await git(["rev-parse", "HEAD"])) ?? "unknown";
    const status = commit === "unknown" ? "" : (await git(["status", "--porcelain", "--untracked-files=no"])) ?? "";
    return { name: denoJson.name, version: denoJson.version, commit, dirty: status.length > 0 };
  })();
  return toolCache;
}

function cpuModel(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    const m = info.match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1]!.trim();
  } catch {
    // not Linux, or no permission
  }
  return `${Deno.build.arch} CPU`;
}

function shortHash(text: string): string {
  // FNV-1a 64 via two 32-bit lanes: stable across runs, enough to tell machines apart.
  let a = 0x811c9dc5, b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
}

/** Description of this machine. */
export function machineInfo(): MachineInfo {
  const cpu = cpuModel();
  const cores = navigator.hardwareConcurrency;
  const memory_bytes = Deno.systemMemoryInfo().total;
  const os = `${Deno.build.os} ${Deno.build.arch}`;
  return {
    cpu,
    cores,
    memory_bytes,
    os,
    runtime: { deno: Deno.version.deno, v8: Deno.version.v8, typescript: Deno.version.typescript },
    fingerprint: shortHash(`${cpu}|${cores}|${Math.round(memory_bytes / 2 ** 30)}|${os}`),
  };
}
