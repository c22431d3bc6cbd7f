import { equal, ok, rejects } from "node:assert/strict";
import { buildNativeProbe, lastLevelCacheBytes, nativeBandwidth, wasmBandwidth } from "./bandwidth.ts";
import { WasmKernels } from "../kernels-wasm/mod.ts";

Deno.test("nativeBandwidth builds the C probe once into the cache and reports every repetition", async () => {
  const cacheDir = await Deno.makeTempDir({ prefix: "bitnet-bw-" });
  try {
    const r = await nativeBandwidth({ threads: 2, mib: 16, reps: 3, cacheDir });
    equal(r.probe, "native");
    equal(r.threads, 2);
    equal(r.seconds.length, 3);
    equal(r.bytes, 16 << 20);
    ok(Number.isFinite(r.gbPerSecond) && r.gbPerSecond > 0, `GB/s = ${r.gbPerSecond}`);
    const exe = await buildNativeProbe({ cacheDir });
    const again = await buildNativeProbe({ cacheDir });
    equal(again, exe);
    const entries = [...Deno.readDirSync(`${cacheDir}/bandwidth`)].map((e) => e.name);
    equal(entries.length, 1, `one cache entry, no temporary folder left: ${entries}`);
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("nativeBandwidth names a missing compiler and rejects bad options", async () => {
  const cacheDir = await Deno.makeTempDir({ prefix: "bitnet-bw-" });
  try {
    await rejects(
      nativeBandwidth({ cc: "/nonexistent/cc", mib: 1, reps: 1, cacheDir }),
      /not runnable.*Fix: install gcc/,
    );
    await rejects(nativeBandwidth({ threads: 0, cacheDir }), RangeError);
    await rejects(nativeBandwidth({ mib: 0, cacheDir }), RangeError);
    equal([...Deno.readDirSync(`${cacheDir}/bandwidth`)].length, 0, "a failed build leaves nothing behind");
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("probe.read sums the bytes it streams (any thread count), and wasmBandwidth reports it", async () => {
  for (const threads of [1, 2]) {
    using k = await WasmKernels.create({ threads, inlineBelowNs: 0 });
    const n = (3 << 20) + 64 * 7;
    const x = k.alloc(n), out = k.alloc(4);
    const u8 = new Uint8Array(k.buffer, x, n);
    for (let i = 0; i < n; i++) u8[i] = (i * 2654435761) >>> 24;
    const words = new Uint32Array(k.buffer, x, n / 4);
    let want = 0;
    for (const w of words) want = (want + w) >>> 0;
    new Uint32Array(k.buffer, out, 1)[0] = 5;
    k.run("probe.read", x, n, out);
    equal(new Uint32Array(k.buffer, out, 1)[0], (want + 5) >>> 0);
    const r = await wasmBandwidth({ kernels: k, mib: 8, reps: 2 });
    equal(r.probe, "wasm");
    equal(r.threads, threads);
    ok(r.gbPerSecond > 0);
  }
});

Deno.test("lastLevelCacheBytes() takes the highest-level data or unified cache from sysfs, null without one", () => {
  const root = Deno.makeTempDirSync({ prefix: "crossval-sysfs-" });
  try {
    const cache = (i: number, level: number, type: string, size: string) => {
      Deno.mkdirSync(`${root}/index${i}`);
      for (const [f, v] of [["level", level], ["type", type], ["size", size]]) {
        Deno.writeTextFileSync(`${root}/index${i}/${f}`, `${v}\n`);
      }
    };
    equal(lastLevelCacheBytes(root), null);
    cache(0, 1, "Data", "48K");
    cache(1, 1, "Instruction", "32K");
    cache(2, 2, "Unified", "2048K");
    equal(lastLevelCacheBytes(root), 2048 * 1024);
    cache(3, 3, "Unified", "32768K");
    cache(4, 4, "Instruction", "64M"); // no instruction cache counts, whatever its level
    equal(lastLevelCacheBytes(root), 32 * 1024 * 1024);
    equal(lastLevelCacheBytes(`${root}/missing`), null);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
  const here = lastLevelCacheBytes();
  ok(here === null || here >= 1024, `this machine: ${here}`);
});
