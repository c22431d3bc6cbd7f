/**
 * SHA-256 throughput as a benchmark receipt pays for it: `benchModelInfo` hashes the model file unless the
 * lockfile's verified hash is passed in (lock/sha256.ts, streamed through `node:crypto` in 4 MiB reads). Measured
 * on a 128 MiB file in the page cache and on the generated CI model; WebCrypto's one-shot digest of the same bytes
 * in memory is the baseline (no file I/O). The fetcher's own benchmark is lock/sha256_bench.ts.
 *
 *   deno bench -A bench/sha256_bench.ts
 *
 * MB/s = file size / (time per iteration).
 *
 * @module
 */

import { sha256File } from "../lock/sha256.ts";
import { writeSyntheticModel } from "../engine/synth/mod.ts";
import { Prng } from "../receipts/prng.ts";

const SIZE = 128 << 20;
const data = new Uint8Array(SIZE);
const rng = new Prng(1);
const words = new Uint32Array(data.buffer);
for (let i = 0; i < words.length; i++) words[i] = rng.u32();
const dir = await Deno.makeTempDir({ prefix: "sha256_bench_" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const big = `${dir}/128mib.bin`;
await Deno.writeFile(big, data);
const model = `${dir}/ci-tiny.gguf`;
await writeSyntheticModel(model, { preset: "tiny" });
const modelBytes = await Deno.readFile(model);

Deno.bench("WebCrypto digest, 128 MiB in memory", { group: "128 MiB", baseline: true }, async () => {
  await crypto.subtle.digest("SHA-256", data);
});
Deno.bench("sha256File, 128 MiB file (page cache)", { group: "128 MiB" }, async () => {
  await sha256File(big);
});
Deno.bench(
  `WebCrypto digest, CI model in memory (${modelBytes.length} B)`,
  { group: "ci model", baseline: true },
  async () => {
    await crypto.subtle.digest("SHA-256", modelBytes);
  },
);
Deno.bench(`sha256File, CI model (${modelBytes.length} B)`, { group: "ci model" }, async () => {
  await sha256File(model);
});
