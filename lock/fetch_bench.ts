/**
 * End-to-end throughput of a download into the cache (`deno bench -A lock/fetch_bench.ts`): a 128 MiB model from
 * a `Deno.serve` on 127.0.0.1, through `fetchModel` (HTTP, write, streaming SHA-256, checkpoints, fsync, rename,
 * metadata), with `force` so every iteration downloads; and the warm path (stamp check only).
 * Throughput = 128 MiB / the reported time per iteration.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { fetchModel } from "./fetch_model.ts";
import type { LockEntry } from "./lockfile.ts";

const SIZE = 128 << 20;
const data = new Uint8Array(SIZE);
for (let i = 0; i < SIZE; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => new Response(data));
const cacheDir = await Deno.makeTempDir({ prefix: "fetch_bench_" });
globalThis.addEventListener("unload", () => Deno.removeSync(cacheDir, { recursive: true }));
const entry: LockEntry = {
  name: "bench",
  tier: "bench",
  url: `http://127.0.0.1:${server.addr.port}/m.gguf`,
  sha256: createHash("sha256").update(data).digest("hex"),
  size_bytes: SIZE,
  description: "bench",
};

Deno.bench("fetchModel(): 128 MiB over loopback HTTP, verified into the cache", { group: "fetch", n: 10 }, async () => {
  await fetchModel(entry, { cacheDir, force: true });
});

Deno.bench("fetchModel(): warm, already cached (stamp check)", { group: "warm" }, async () => {
  await fetchModel(entry, { cacheDir });
});
