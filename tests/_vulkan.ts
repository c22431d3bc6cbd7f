/**
 * The Vulkan driver the WebGPU tests run on: Mesa's lavapipe (Debian's `mesa-vulkan-drivers`) on machines without
 * a GPU, installed by `tests/setup.ts` with apt-get when no Vulkan driver is installed, as it does for the Rust
 * toolchain: idempotent, and an actionable message where apt-get cannot run.
 *
 * Why Vulkan and not OpenGL, which Mesa's llvmpipe also offers: `deno test` runs each test module on a thread of a
 * pool, and Deno's WebGPU makes its EGL calls on that thread, so glvnd's libEGL keeps a per-thread state for it.
 * At process exit, libEGL 1.6 (Debian 12) frees the states of all threads in its destructor but leaves their
 * thread-specific pointers and its key in place (fixed upstream in glvnd 1.7, commit 1f9aff1); a pool thread that
 * ends after that destructor frees its state a second time, and the process aborts with "double free or
 * corruption" after every test passed (about one run in six of the WebGPU test files here). With
 * `DENO_WEBGPU_BACKEND=vulkan`, set by `deno task test`, Deno never loads libEGL.
 *
 * @module
 */

import { existsSync } from "node:fs";

/** The apt-get line that provides lavapipe and the Vulkan loader. */
export const VULKAN_INSTALL =
  "apt-get update && apt-get install -y --no-install-recommends mesa-vulkan-drivers libvulkan1";

/** Directories the Vulkan loader reads ICD manifests from on Linux (besides `$XDG_DATA_DIRS/vulkan/icd.d`). */
const ICD_DIRS = ["/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d", "/usr/share/vulkan/icd.d"];

/** Whether the dynamic loader finds the Vulkan loader library (wherever the distribution puts it). */
function hasLoader(): boolean {
  try {
    Deno.dlopen(Deno.build.os === "darwin" ? "libvulkan.1.dylib" : "libvulkan.so.1", {}).close();
    return true;
  } catch {
    return false;
  }
}

function manifests(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".json")).map((e) => `${dir}/${e.name}`);
  } catch {
    return [];
  }
}

/**
 * The installed Vulkan drivers (ICD manifests), or where the loader is told to look.
 *
 * @returns Manifest paths; empty when no driver is installed.
 */
export function vulkanDrivers(): string[] {
  const pinned = Deno.env.get("VK_DRIVER_FILES") ?? Deno.env.get("VK_ICD_FILENAMES");
  if (pinned) return pinned.split(":").filter((p) => existsSync(p));
  const data = (Deno.env.get("XDG_DATA_DIRS") ?? "").split(":").filter(Boolean).map((d) => `${d}/vulkan/icd.d`);
  return [...new Set([...ICD_DIRS, ...data])].flatMap(manifests);
}

/** Whether a Vulkan loader and at least one driver are installed. */
export function hasVulkan(): boolean {
  return vulkanDrivers().length > 0 && hasLoader();
}

async function aptGet(args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const o = await new Deno.Command("apt-get", {
      args,
      stdout: "piped",
      stderr: "piped",
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).output();
    const dec = new TextDecoder();
    return { ok: o.success, out: (dec.decode(o.stdout) + dec.decode(o.stderr)).slice(-2000) };
  } catch (e) {
    return { ok: false, out: String(e) };
  }
}

/**
 * Make sure a Vulkan driver is installed, installing lavapipe with apt-get (as root) when none is.
 *
 * @returns What was found or done, for the setup log.
 * @throws {Error} When no driver is installed and apt-get cannot install one; the message gives the command.
 */
export async function ensureVulkan(): Promise<string> {
  if (hasVulkan()) return `Vulkan drivers: ${vulkanDrivers().map((p) => p.replace(/^.*\//, "")).join(", ")}`;
  const fix = `Install Mesa's lavapipe as root with: ${VULKAN_INSTALL}`;
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) {
    throw new Error(`The WebGPU tests need a Vulkan driver and none is installed. ${fix}`);
  }
  const update = await aptGet(["update"]);
  const install = update.ok
    ? await aptGet(["install", "-y", "--no-install-recommends", "mesa-vulkan-drivers", "libvulkan1"])
    : update;
  if (!install.ok || !hasVulkan()) {
    throw new Error(`The WebGPU tests need a Vulkan driver; apt-get could not install one:\n${install.out}\n${fix}`);
  }
  return `Vulkan drivers installed: ${vulkanDrivers().map((p) => p.replace(/^.*\//, "")).join(", ")}`;
}
