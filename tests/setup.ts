/**
 * One-time, idempotent preparation before the test suite (run by `deno task test`): provisions what tests read
 * from outside the repository, so a fresh machine with only Node/npm needs no manual step.
 * - the lockfile's CI-tier model, generated and verified against its pinned SHA-256;
 * - the pinned llama.cpp source (tokenizer test vectors, `llama.h` for the struct-layout proof), from npm;
 * - the Debian Rust->WASM toolchain, for the check that the committed kernels rebuild byte-identically;
 * - a Vulkan driver for the WebGPU tests (Mesa's lavapipe where there is no GPU; `deno task test` runs them on
 *   Vulkan, not EGL: tests/_vulkan.ts says why);
 * - the ik_llama.cpp reference, built from its source archive into the cache with its protocol driver (once per
 *   machine: minutes the first time, docs/references.md; then found in the cache). Without the archive the setup
 *   goes on and the tests that need the reference fail naming how to provide it. `BITNET_SKIP_IK_BUILD=1`
 *   skips the build (those tests then fail with the command that builds it).
 *
 * @module
 */

import { llamaSourceDir } from "../ffi/llama_source.ts";
import {
  ensureDriver,
  ensureReferenceBuild,
  ikSourceFromEnv,
  type ReferenceBuildEvent,
  ReferenceSourceError,
} from "../ffi/references/mod.ts";
import { ensureToolchain } from "../kernels-wasm/build.ts";
import { defaultLockfilePath, fetchModels, Lockfile } from "../lock/mod.ts";
import { ensureVulkan } from "./_vulkan.ts";

const t0 = performance.now();
const src = await llamaSourceDir();
// The CI tier is generated locally and verified against its pinned hash: tests that resolve "ci-tiny" find it.
const report = await fetchModels(await Lockfile.load(defaultLockfilePath()), { tier: "ci" });
if (!report.ok) throw new Error(`Cannot provision the CI model: ${JSON.stringify(report.models)}`);
await ensureToolchain();
console.error(`setup: llama.cpp source at ${src}; toolchain ready (${Math.round(performance.now() - t0)} ms)`);
try {
  console.error(`setup: ${await ensureVulkan()}`);
} catch (e) {
  console.error(`setup: ${(e as Error).message}\nsetup: the WebGPU tests will fail until then.`);
}

/** Phases and every tenth of the compile on stderr: enough to see a long first build move, quiet otherwise. */
function progress(e: ReferenceBuildEvent): void {
  if (e.type === "start") console.error(`setup: building ${e.library} once into ${e.dir} (minutes on 2 cores)`);
  else if (e.type === "phase") console.error(`setup:   ${e.phase}: ${e.message}`);
  else if (e.type === "lock") console.error(`setup:   ${e.message}`);
  else if (e.type === "done") console.error(`setup:   ${e.what} ready in ${e.seconds.toFixed(0)} s: ${e.dir}`);
  else if (
    e.type === "progress" && (e.steps_done % Math.ceil(e.steps_total / 10) === 0 || e.steps_done === e.steps_total)
  ) {
    const eta = e.eta_s === null ? "" : `, about ${Math.ceil(e.eta_s / 60)} min left`;
    console.error(`setup:   compiled ${e.steps_done}/${e.steps_total}${eta}`);
  }
}

if (Deno.env.get("BITNET_SKIP_IK_BUILD") !== "1") {
  try {
    const build = await ensureReferenceBuild(await ikSourceFromEnv(), { onEvent: progress });
    const driver = await ensureDriver(build, { onEvent: progress });
    console.error(`setup: ${build.manifest.library} reference driver at ${driver.path}`);
  } catch (e) {
    if (!(e instanceof ReferenceSourceError)) throw e;
    console.error(`setup: ${e.message}\nsetup: the tests that need the ik_llama.cpp reference will fail until then.`);
  }
}
