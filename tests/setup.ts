/**
 * One-time, idempotent preparation before the test suite (run by `deno task test`): provisions what tests read
 * from outside the repository, so a fresh machine with only Node/npm needs no manual step.
 * - the lockfile's CI-tier model, generated and verified against its pinned SHA-256;
 * - the pinned llama.cpp source (tokenizer test vectors, `llama.h` for the struct-layout proof), from npm;
 * - the Debian Rust->WASM toolchain, for the check that the committed kernels rebuild byte-identically.
 *
 * @module
 */

import { llamaSourceDir } from "../ffi/llama_source.ts";
import { ensureToolchain } from "../kernels-wasm/build.ts";
import { defaultLockfilePath, fetchModels, Lockfile } from "../lock/mod.ts";

const t0 = performance.now();
const src = await llamaSourceDir();
// The CI tier is generated locally and verified against its pinned hash: tests that resolve "ci-tiny" find it.
const report = await fetchModels(await Lockfile.load(defaultLockfilePath()), { tier: "ci" });
if (!report.ok) throw new Error(`Cannot provision the CI model: ${JSON.stringify(report.models)}`);
await ensureToolchain();
console.error(`setup: llama.cpp source at ${src}; toolchain ready (${Math.round(performance.now() - t0)} ms)`);
