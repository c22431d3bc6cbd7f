/**
 * One-time, idempotent preparation before the test suite (run by `deno task test`): provisions what tests read
 * from outside the repository, so a fresh machine with only Node/npm needs no manual step.
 * - the pinned llama.cpp source (tokenizer test vectors, `llama.h` for the struct-layout proof), from npm;
 * - the Debian Rust->WASM toolchain, for the check that the committed kernels rebuild byte-identically.
 *
 * @module
 */

import { llamaSourceDir } from "../ffi/llama_source.ts";
import { ensureToolchain } from "../kernels-wasm/build.ts";

const t0 = performance.now();
const src = await llamaSourceDir();
await ensureToolchain({ log: (line: string) => console.error(`setup: ${line}`) });
console.error(`setup: llama.cpp source at ${src}; toolchain ready (${Math.round(performance.now() - t0)} ms)`);
