/**
 * Cross-check of `engine/quant/` against ggml itself: the pinned llama.cpp v0.5.0 `libggml-base.so` (reference
 * quantizers, dequantizers, f16/bf16 rows) and the CPU backend that ggml would pick on this machine (the
 * quantizers it really runs on activations). Every comparison is bit for bit.
 */
import assert from "node:assert/strict";
import { LibraryLoadError, locateLlamaLibrary, pinLibrary } from "../ffi/library.ts";
import {
  bf16ToF32Row,
  f16ToF32Row,
  f32ToBf16Row,
  f32ToF16Row,
  GgmlType,
  type GgmlTypeId,
  quantFormat,
  quantizeRowQ8_0,
  quantizeRowQ8K,
} from "../engine/quant/mod.ts";
import { Prng } from "../engine/sampling.ts";

const ROW = { parameters: ["buffer", "buffer", "i64"], result: "void" } as const;
const BASE_SYMBOLS = {
  ggml_fp16_to_fp32_row: ROW,
  ggml_fp32_to_fp16_row: ROW,
  ggml_bf16_to_fp32_row: ROW,
  ggml_fp32_to_bf16_row_ref: ROW,
  quantize_row_q8_0_ref: ROW,
  quantize_row_q6_K_ref: ROW,
  quantize_row_q8_K_ref: ROW,
  quantize_row_tq1_0_ref: ROW,
  quantize_row_tq2_0_ref: ROW,
  dequantize_row_q8_0: ROW,
  dequantize_row_q6_K: ROW,
  dequantize_row_q8_K: ROW,
  dequantize_row_tq1_0: ROW,
  dequantize_row_tq2_0: ROW,
} as const;
const CPU_SYMBOLS = {
  quantize_row_q8_0: ROW,
  quantize_row_q8_K: ROW,
  ggml_cpu_fp32_to_fp16: ROW,
  ggml_cpu_fp32_to_bf16: ROW,
} as const;

type Base = Deno.DynamicLibrary<typeof BASE_SYMBOLS>;
type Cpu = Deno.DynamicLibrary<typeof CPU_SYMBOLS>;

function open<S extends Deno.ForeignLibraryInterface>(path: string, symbols: S): Deno.DynamicLibrary<S> {
  try {
    return Deno.dlopen(path, symbols);
  } catch (e) {
    throw new LibraryLoadError(
      `Cannot load "${path}" for the quant cross-check: ${(e as Error).message}. ` +
        `Reinstall the npm dependencies (rm -rf node_modules && deno install) or set BITNET_CPP_DIR to a llama.cpp build.`,
      { cause: e },
    );
  }
}

// ggml loads the CPU variant with the highest ggml_backend_score() (ggml-backend-reg.cpp); do the same, so the
// activation quantizers are checked against the code the reference really runs here.
function openBestCpu(dir: string): { lib: Cpu; name: string } {
  let best: { path: string; score: number } | undefined;
  for (const e of Deno.readDirSync(dir)) {
    if (!/^libggml-cpu-.*\.so$/.test(e.name)) continue;
    const probe = open(`${dir}/${e.name}`, { ggml_backend_score: { parameters: [], result: "i32" } });
    const score = probe.symbols.ggml_backend_score();
    probe.close();
    if (score > 0 && (!best || score > best.score)) best = { path: `${dir}/${e.name}`, score };
  }
  if (!best) {
    throw new LibraryLoadError(
      `Cannot find a usable libggml-cpu-*.so in ${dir}: no CPU variant scored above 0 on this machine. ` +
        `Reinstall the npm dependencies or set BITNET_CPP_DIR to a llama.cpp build with the CPU backend.`,
    );
  }
  return { lib: open(best.path, CPU_SYMBOLS), name: best.path.slice(dir.length + 1) };
}

/** Deterministic data: uniform [0, 1) draws of the engine's seeded mulberry32. */
function rng(seed: number): () => number {
  const p = new Prng(seed);
  return () => p.next();
}

const DISTS = ["gaussian", "uniform", "ternary", "sparse", "extremes", "zeros", "ties", "ties127"] as const;

function data(dist: (typeof DISTS)[number], n: number, seed: number): Float32Array {
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const s = 0.01 + r() * 3;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const k = Math.floor(r() * 8);
    x[i] = dist === "gaussian"
      ? gauss() * s
      : dist === "uniform"
      ? (r() * 2 - 1) * s
      : dist === "ternary"
      ? (Math.floor(r() * 3) - 1) * (0.05 + ((i >>> 8) % 7) * 0.37)
      : dist === "sparse"
      ? (((i >>> 8) & 1) === 0 && k === 0 ? gauss() : 0)
      : dist === "extremes"
      ? [3e38, -3e38, gauss() * 1e-40, -0, gauss() * 65504, gauss() * 1e-6, gauss(), 1e-30][k]
      : dist === "zeros"
      ? (k & 1 ? 0 : -0)
      : dist === "ties" || i % 32 !== 0
      // Halves: exact ties for TQ (amax 4 -> x * id = +-0.5) and, with 127 planted in every 32-block
      // ("ties127": Q8_0 d = 1, Q8_K iscale = -1), for the 8-bit quantizers.
      ? (Math.floor(r() * 17) - 8) * 0.5
      : (k & 1 ? 127 : -127);
  }
  return x;
}

// Bitwise f32 equality, except that any NaN equals any NaN (JS may canonicalise NaN payloads on store).
function assertSameF32(ours: Float32Array, theirs: Float32Array, what: string): void {
  const a = new Uint32Array(ours.buffer, ours.byteOffset, ours.length);
  const b = new Uint32Array(theirs.buffer, theirs.byteOffset, theirs.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i] || (ours[i] !== ours[i] && theirs[i] !== theirs[i])) continue;
    assert.fail(
      `${what}: element ${i} is 0x${a[i].toString(16)} (${ours[i]}), ggml has 0x${b[i].toString(16)} (${theirs[i]})`,
    );
  }
}

function assertSameBytes(ours: Uint8Array, theirs: Uint8Array, what: string): void {
  const i = ours.findIndex((v, k) => v !== theirs[k]);
  if (i >= 0) assert.fail(`${what}: byte ${i} is ${ours[i]}, ggml wrote ${theirs[i]}`);
  assert.equal(ours.length, theirs.length);
}

interface BlockCase {
  id: GgmlTypeId;
  quantizeRef: keyof typeof BASE_SYMBOLS;
  dequantize: keyof typeof BASE_SYMBOLS;
  sizes: number[];
}

const BLOCK_CASES: BlockCase[] = [
  { id: GgmlType.Q8_0, quantizeRef: "quantize_row_q8_0_ref", dequantize: "dequantize_row_q8_0", sizes: [32, 96, 4096] },
  {
    id: GgmlType.Q6_K,
    quantizeRef: "quantize_row_q6_K_ref",
    dequantize: "dequantize_row_q6_K",
    sizes: [256, 768, 4096],
  },
  {
    id: GgmlType.Q8_K,
    quantizeRef: "quantize_row_q8_K_ref",
    dequantize: "dequantize_row_q8_K",
    sizes: [256, 768, 4096],
  },
  {
    id: GgmlType.TQ1_0,
    quantizeRef: "quantize_row_tq1_0_ref",
    dequantize: "dequantize_row_tq1_0",
    sizes: [256, 768, 4096],
  },
  {
    id: GgmlType.TQ2_0,
    quantizeRef: "quantize_row_tq2_0_ref",
    dequantize: "dequantize_row_tq2_0",
    sizes: [256, 768, 4096],
  },
];

Deno.test("engine/quant is bit-exact with ggml (llama.cpp v0.5.0 libggml-base and CPU backend)", async (t) => {
  const loc = await locateLlamaLibrary();
  const base: Base = open(loc.ggmlBase, BASE_SYMBOLS);
  // Probing the CPU variants loads and unloads each; ggml-base itself must stay loaded (see pinLibrary).
  pinLibrary(loc.ggmlBase);
  const cpu = openBestCpu(loc.dir);
  const cpuLib: Cpu = cpu.lib;
  const g = base.symbols;
  try {
    for (const c of BLOCK_CASES) {
      const f = quantFormat(c.id);
      await t.step(`${f.name}: quantize == ${c.quantizeRef}, dequantize == ${c.dequantize}`, () => {
        let seed = c.id * 1000;
        for (const n of c.sizes) {
          const bytes = n / f.blockSize * f.typeSize;
          for (const dist of DISTS) {
            const x = data(dist, n, seed++);
            const what = `${f.name} ${dist} n=${n}`;
            const ours = new Uint8Array(bytes);
            const theirs = new Uint8Array(bytes);
            f.quantize(x, ours);
            g[c.quantizeRef](x, theirs, BigInt(n));
            assertSameBytes(ours, theirs, `${what} quantize`);
            const yo = new Float32Array(n), yt = new Float32Array(n);
            f.dequantize(theirs, yo);
            g[c.dequantize](theirs, yt, BigInt(n));
            assertSameF32(yo, yt, `${what} dequantize`);
          }
          // Random bytes: scales of every kind (subnormal, inf, NaN), TQ2_0 code 3, TQ1_0 bytes above 242.
          const r = rng(seed++);
          const raw = new Uint8Array(bytes).map(() => Math.floor(r() * 256));
          const yo = new Float32Array(n), yt = new Float32Array(n);
          f.dequantize(raw, yo);
          g[c.dequantize](raw, yt, BigInt(n));
          assertSameF32(yo, yt, `${f.name} random bytes n=${n} dequantize`);
        }
      });
    }

    await t.step(
      "F16/BF16: rows == ggml_fp32_to_fp16_row, ggml_fp16_to_fp32_row, ggml_fp32_to_bf16_row_ref, ggml_bf16_to_fp32_row",
      () => {
        // Every f16/bf16 bit pattern, and f32 patterns: random, plus each f16 rounding midpoint and its neighbours.
        const all = new Uint16Array(65536).map((_, i) => i);
        for (
          const [ours, theirs, name] of [[f16ToF32Row, g.ggml_fp16_to_fp32_row, "f16"], [
            bf16ToF32Row,
            g.ggml_bf16_to_fp32_row,
            "bf16",
          ]] as const
        ) {
          const yo = new Float32Array(65536), yt = new Float32Array(65536);
          ours(all, yo);
          theirs(all, yt, 65536n);
          // Exact bits here, NaN payloads included: both sides only move bits.
          assert.deepEqual(new Uint32Array(yo.buffer), new Uint32Array(yt.buffer), `${name} -> f32`);
        }
        const r = rng(42);
        const n = 1 << 20;
        const u = new Uint32Array(n + 65536 * 3);
        for (let i = 0; i < n; i++) u[i] = Math.floor(r() * 4294967296);
        const f16bits = new Float32Array(65536);
        f16ToF32Row(all, f16bits);
        const fb = new Uint32Array(f16bits.buffer);
        for (let h = 0; h < 65536; h++) {
          const lo = fb[h], hi = h + 1 < 65536 ? fb[h + 1] : fb[h];
          const mid = (lo + Math.floor((hi - lo) / 2)) >>> 0;
          u[n + 3 * h] = mid;
          u[n + 3 * h + 1] = (mid - 1) >>> 0;
          u[n + 3 * h + 2] = (mid + 1) >>> 0;
        }
        const x = new Float32Array(u.buffer);
        for (
          const [ours, theirs, name] of [[f32ToF16Row, g.ggml_fp32_to_fp16_row, "f16"], [
            f32ToBf16Row,
            g.ggml_fp32_to_bf16_row_ref,
            "bf16",
          ]] as const
        ) {
          const ho = new Uint16Array(x.length), ht = new Uint16Array(x.length);
          ours(x, ho);
          theirs(x, ht, BigInt(x.length));
          const i = ho.findIndex((v, k) => v !== ht[k]);
          assert.equal(
            i,
            -1,
            `f32 0x${u[i]?.toString(16)} -> ${name}: ours 0x${ho[i]?.toString(16)}, ggml 0x${ht[i]?.toString(16)}`,
          );
        }
      },
    );

    await t.step(
      `activations: quantizeRowQ8K, quantizeRowQ8_0, f32ToF16Row == ${cpu.name} (the CPU variant ggml picks here)`,
      () => {
        let seed = 7000;
        for (const n of [256, 2560, 6912]) {
          for (const dist of DISTS) {
            const x = data(dist, n, seed++);
            const what = `${dist} n=${n}`;
            const q8k = [new Uint8Array(n / 256 * 292), new Uint8Array(n / 256 * 292)];
            quantizeRowQ8K(x, q8k[0]);
            cpuLib.symbols.quantize_row_q8_K(x, q8k[1], BigInt(n));
            assertSameBytes(q8k[0], q8k[1], `Q8_K ${what}`);
            const q80 = [new Uint8Array(n / 32 * 34), new Uint8Array(n / 32 * 34)];
            quantizeRowQ8_0(x, q80[0]);
            cpuLib.symbols.quantize_row_q8_0(x, q80[1], BigInt(n));
            assertSameBytes(q80[0], q80[1], `Q8_0 ${what}`);
            const h = [new Uint16Array(n), new Uint16Array(n)];
            f32ToF16Row(x, h[0]);
            cpuLib.symbols.ggml_cpu_fp32_to_fp16(x, h[1], BigInt(n));
            assert.deepEqual(h[0], h[1], `F16 ${what}`);
            const b = [new Uint16Array(n), new Uint16Array(n)];
            f32ToBf16Row(x, b[0]);
            cpuLib.symbols.ggml_cpu_fp32_to_bf16(x, b[1], BigInt(n));
            assert.deepEqual(b[0], b[1], `BF16 ${what}`);
          }
        }
      },
    );

    await t.step("activations: the x86 Q8_0 activation quantizer differs from quantize_row_q8_0_ref on ties", () => {
      // d = 1 (amax 127): 0.5 and 2.5 are exact ties. The CPU path rounds them to even, the _ref with roundf away.
      const x = new Float32Array(32);
      x.set([127, 0.5, 2.5, -1.5]);
      const cpuOut = new Uint8Array(34), refOut = new Uint8Array(34), ours = new Uint8Array(34);
      cpuLib.symbols.quantize_row_q8_0(x, cpuOut, 32n);
      g.quantize_row_q8_0_ref(x, refOut, 32n);
      quantizeRowQ8_0(x, ours);
      assert.deepEqual([...new Int8Array(cpuOut.buffer, 2, 4)], [127, 0, 2, -2]);
      assert.deepEqual([...new Int8Array(refOut.buffer, 2, 4)], [127, 1, 3, -2]);
      assertSameBytes(ours, cpuOut, "quantizeRowQ8_0 ties");
    });

    await t.step("activations: the x86 Q8_0 activation quantizer scales by 127 / amax, not by 1 / d", () => {
      // Find amax where fround(127 / amax) != fround(1 / fround(amax / 127)), then a value whose product with the
      // two candidate scales rounds to different integers: only the CPU backend's formula matches ggml there.
      const r = rng(99);
      const x = new Float32Array(32);
      let found = false;
      for (let tries = 0; tries < 100000 && !found; tries++) {
        const amax = Math.fround(0.5 + r() * 100);
        const idCpu = Math.fround(127 / amax);
        const idRef = Math.fround(1 / Math.fround(amax / 127));
        if (idCpu === idRef) continue;
        for (let k = 0; k < 126 && !found; k++) {
          const v = Math.fround((k + 0.5) / idCpu);
          // Round half to even, as _mm256_round_ps(_MM_ROUND_NEAREST) does (exact for |v| < 2^22).
          const rne = (y: number) => Math.fround(y + 12582912) - 12582912;
          if (rne(Math.fround(v * idCpu)) !== rne(Math.fround(v * idRef))) {
            x.fill(0);
            x[0] = amax;
            x[1] = v;
            found = true;
          }
        }
      }
      assert.ok(found, "no discriminating input found: the search space is too small");
      const ours = new Uint8Array(34), cpuOut = new Uint8Array(34);
      quantizeRowQ8_0(x, ours);
      cpuLib.symbols.quantize_row_q8_0(x, cpuOut, 32n);
      assertSameBytes(ours, cpuOut, `quantizeRowQ8_0 amax=${x[0]} x=${x[1]}`);
    });

    await t.step(
      "F16: a NaN becomes the canonical 0x7e00 in ggml-base, while F16C in the CPU backend keeps its payload",
      () => {
        // 16 values so ggml_cpu_fp32_to_fp16 takes its vector path (_mm512/_mm256_cvtps_ph, ggml-cpu.c:3488-3507);
        // its scalar tail (the last n % 4 values) canonicalises NaN like ggml-base does.
        const u = new Uint32Array(16).fill(0x7fc02000);
        u.set([0xff812345, 0x7f800001], 1);
        const x = new Float32Array(u.buffer);
        const ours = new Uint16Array(16), baseOut = new Uint16Array(16), cpuOut = new Uint16Array(16);
        f32ToF16Row(x, ours);
        g.ggml_fp32_to_fp16_row(x, baseOut, 16n);
        cpuLib.symbols.ggml_cpu_fp32_to_fp16(x, cpuOut, 16n);
        assert.deepEqual(ours, baseOut);
        assert.deepEqual([...baseOut.subarray(0, 3)], [0x7e00, 0xfe00, 0x7e00]);
        // F16C: sign | 0x7c00 | quiet bit | top payload bits (u >> 13).
        assert.deepEqual([...cpuOut], [...u].map((v) => ((v >>> 16) & 0x8000) | 0x7e00 | ((v >>> 13) & 0x3ff)));
      },
    );
  } finally {
    cpuLib.close();
    base.close();
  }
});
