/**
 * Throughput of the fetcher's SHA-256 (`deno bench -A lock/sha256_bench.ts`): in memory, and from a file in the
 * page cache through {@link sha256File} (the path a `--verify-only` re-hash takes). The file is 256 MiB so one
 * iteration is long enough to time; bytes/s = 256 MiB / the reported time per iteration.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { sha256File } from "./sha256.ts";

const SIZE = 256 << 20;
const data = new Uint8Array(SIZE);
for (let i = 0; i < SIZE; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
const path = await Deno.makeTempFile({ prefix: "sha256_bench_" });
await Deno.writeFile(path, data);
globalThis.addEventListener("unload", () => Deno.removeSync(path));

Deno.bench("sha256 node:crypto in memory, 256 MiB in 4 MiB updates", { group: "sha256", baseline: true }, () => {
  const h = createHash("sha256");
  for (let i = 0; i < SIZE; i += 4 << 20) h.update(data.subarray(i, i + (4 << 20)));
  h.digest("hex");
});

Deno.bench("sha256File() of a 256 MiB file (page cache)", { group: "sha256" }, async () => {
  await sha256File(path);
});

Deno.bench("WebCrypto subtle.digest, 256 MiB one shot", { group: "sha256" }, async () => {
  await crypto.subtle.digest("SHA-256", data);
});
