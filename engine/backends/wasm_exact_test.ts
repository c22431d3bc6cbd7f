/**
 * The `wasm` backend is bit-identical to the `ref` backend (which reproduces llama.cpp's x86 AVX-512 float order,
 * engine/backends/ggml_order.ts): every kernel of kernels-wasm/ABI.md on the same random inputs gives the same
 * output bytes on `ref` (1 thread) and on `wasm` with 1 and 2 threads, over several shapes (K tails, one and
 * several tokens, GQA, cache positions past the 16- and 64-lane boundaries of ggml's accumulators); and whole
 * generated models give byte-identical logits after a prompt and after single-token decodes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createBackend, type KernelBackend, type KernelId } from "./mod.ts";
import { Engine } from "../engine.ts";
import { argmax, Prng } from "../sampling.ts";
import { f32ToF16Row, GgmlType, quantFormat } from "../quant/mod.ts";
import { fixtureModel } from "../synth/_testing.ts";
import type { SynthSpec } from "../synth/mod.ts";

const rng = new Prng(20261126);

function gauss(n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rng.next(), 1e-12), v = rng.next();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

function randomBytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(rng.next() * 256));
}

function f16Bits(x: number): number {
  const h = new Uint16Array(1);
  f32ToF16Row(Float32Array.of(x), h);
  return h[0];
}

/** Activations: Gaussian rows with an all-zero 256-block in row 1, a large value in row 2, exact zeros. */
function activations(nTok: number, k: number, scale = 2): Float32Array {
  const x = gauss(nTok * k, scale);
  if (nTok > 1) x.fill(0, k, k + Math.min(k, 256));
  if (nTok > 2) x[2 * k + 5] = 3e4;
  for (let i = 7; i < x.length; i += 97) x[i] = i % 2 ? 0 : -0;
  return x;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A kernel call: inputs written into the arena, then the kernel, then the bytes of its output buffer. */
interface Case {
  readonly name: string;
  readonly id: KernelId;
  /** Buffers in argument order: input bytes, or a size in bytes for an output/scratch buffer. */
  readonly bufs: readonly (Uint8Array | number)[];
  /** Arguments: a buffer index `{ buf: i }` or a number. */
  readonly args: readonly ({ buf: number } | number)[];
  /** Index of the buffer whose bytes are compared. */
  readonly out: number;
}

function runCase(be: KernelBackend, c: Case): Uint8Array {
  const ptrs = c.bufs.map((b) => {
    const n = typeof b === "number" ? b : b.byteLength;
    const p = be.alloc(Math.max(n, 4));
    if (typeof b !== "number") be.write(p, b);
    return p;
  });
  be.run(c.id, ...c.args.map((a) => (typeof a === "number" ? a : ptrs[a.buf])));
  const b = c.bufs[c.out];
  return new Uint8Array(be.hostBuffer!, ptrs[c.out], typeof b === "number" ? b : b.byteLength).slice();
}

const GEMM_WEIGHTS: Record<
  string,
  {
    id: KernelId;
    act: KernelId | undefined;
    qk: number;
    weights: (n: number, k: number) => Uint8Array;
    actBytes: (k: number) => number;
  }
> = {
  tq2_0: {
    id: "gemm.tq2_0_q8_k",
    act: "quantize.q8_k",
    qk: 256,
    weights: (n, k) => blocks(n * k / 256, 66, (b) => b.setUint16(64, f16Bits(0.01 + rng.next() * 0.05), true)),
    actBytes: (k) => k / 256 * 292,
  },
  tq1_0: {
    id: "gemm.tq1_0_q8_k",
    act: "quantize.q8_k",
    qk: 256,
    weights: (n, k) => blocks(n * k / 256, 54, (b) => b.setUint16(52, f16Bits(0.01 + rng.next() * 0.05), true)),
    actBytes: (k) => k / 256 * 292,
  },
  q6_k: {
    id: "gemm.q6_k_q8_k",
    act: "quantize.q8_k",
    qk: 256,
    weights: (n, k) => blocks(n * k / 256, 210, (b) => b.setUint16(208, f16Bits(rng.next() * 0.01), true)),
    actBytes: (k) => k / 256 * 292,
  },
  q8_0: {
    id: "gemm.q8_0_q8_0",
    act: "quantize.q8_0",
    qk: 32,
    weights: (n, k) => blocks(n * k / 32, 34, (b) => b.setUint16(0, f16Bits(rng.next() * 0.01), true)),
    actBytes: (k) => k / 32 * 34,
  },
  f16: {
    id: "gemm.f16_f16",
    act: "quantize.f16",
    qk: 1,
    weights: (n, k) => {
      const h = new Uint16Array(n * k);
      f32ToF16Row(gauss(n * k, 0.05), h);
      return bytesOf(h);
    },
    actBytes: (k) => 2 * k,
  },
  bf16: {
    id: "gemm.bf16_bf16",
    act: "quantize.bf16",
    qk: 1,
    weights: (n, k) => bytesOf(Uint16Array.from(new Uint32Array(gauss(n * k, 0.05).buffer), (u) => u >>> 16)),
    actBytes: (k) => 2 * k,
  },
  f32: {
    id: "gemm.f32_f32",
    act: undefined,
    qk: 1,
    weights: (n, k) => bytesOf(gauss(n * k, 0.05)),
    actBytes: (k) => 4 * k,
  },
  i2_s: {
    id: "gemm.i2_s_i8_s",
    act: "quantize.i8_s",
    qk: 128,
    weights: (n, k) => {
      const fmt = quantFormat(GgmlType.I2_S);
      const out = new Uint8Array(n * k / 4 + fmt.tensorTailBytes);
      fmt.quantize(Float32Array.from({ length: n * k }, () => (Math.floor(rng.next() * 3) - 1) * 0.02), out);
      return out;
    },
    actBytes: (k) => k + 16,
  },
  // Float activations (`activations: "float"`): the same I2_S weights times unquantized f32 rows.
  i2_s_f32: {
    id: "gemm.i2_s_f32",
    act: undefined,
    qk: 128,
    weights: (n, k) => {
      const fmt = quantFormat(GgmlType.I2_S);
      const out = new Uint8Array(n * k / 4 + fmt.tensorTailBytes);
      fmt.quantize(Float32Array.from({ length: n * k }, () => (Math.floor(rng.next() * 3) - 1) * 0.02), out);
      return out;
    },
    actBytes: (k) => 4 * k,
  },
};

/** `count` blocks of `size` random bytes, each finished by `fix` (its f16 scale). */
function blocks(count: number, size: number, fix: (b: DataView) => void): Uint8Array {
  const out = randomBytes(count * size);
  for (let i = 0; i < count; i++) fix(new DataView(out.buffer, i * size, size));
  return out;
}

/** Quantized activations from the reference backend (the quantizers are compared separately). */
function quantizeOnRef(
  ref: KernelBackend,
  id: KernelId | undefined,
  x: Float32Array,
  k: number,
  rows: number,
  bytes: number,
) {
  if (!id) return bytesOf(x).slice();
  return runCase(ref, {
    name: "",
    id,
    bufs: [bytesOf(x), bytes * rows],
    args: [{ buf: 0 }, { buf: 1 }, k, rows],
    out: 1,
  });
}

function gemmCases(ref: KernelBackend): Case[] {
  const cases: Case[] = [];
  const shapes: Record<number, [number, number, number][]> = {
    256: [
      [1, 256, 1],
      [8, 512, 1],
      [13, 768, 1],
      [67, 1024, 1],
      [96, 2560, 1],
      [5, 512, 2],
      [13, 768, 3],
      [16, 512, 4],
      [31, 256, 9],
      [12, 1024, 5],
    ],
    128: [[1, 128, 1], [8, 256, 1], [13, 384, 3], [16, 128, 5]],
    32: [[1, 32, 1], [7, 96, 1], [12, 256, 2], [13, 512, 5], [8, 2560, 1]],
    1: [[1, 16, 1], [3, 100, 1], [4, 64, 2], [8, 96, 3], [13, 200, 2], [12, 256, 5], [8, 2560, 1], [5, 2560, 3], [
      16,
      128,
      1,
    ], [4, 7, 2]],
  };
  for (const [name, g] of Object.entries(GEMM_WEIGHTS)) {
    for (const [n, k, t] of shapes[g.qk]) {
      const xq = quantizeOnRef(ref, g.act, activations(t, k), k, t, g.actBytes(k));
      cases.push({
        name: `${g.id} n_out=${n} K=${k} n_tok=${t}`,
        id: g.id,
        bufs: [g.weights(n, k), xq, 4 * n * t],
        args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, n, k, t],
        out: 2,
      });
      void name;
    }
  }
  return cases;
}

function otherCases(): Case[] {
  const cases: Case[] = [];
  for (const [k, rows] of [[256, 1], [300, 3], [2560, 2], [6912, 1], [7, 2]]) {
    const x = activations(rows, k, 3);
    for (const id of ["quantize.q8_k", "quantize.q8_0", "quantize.f16", "quantize.bf16", "quantize.i8_s"] as const) {
      if ((id === "quantize.q8_k" && k % 256) || (id === "quantize.q8_0" && k % 32)) continue;
      const rb = {
        "quantize.q8_k": k / 256 * 292,
        "quantize.q8_0": k / 32 * 34,
        "quantize.f16": 2 * k,
        "quantize.bf16": 2 * k,
        "quantize.i8_s": k + 16,
      }[id];
      cases.push({
        name: `${id} K=${k} rows=${rows}`,
        id,
        bufs: [bytesOf(x), rb * rows],
        args: [{ buf: 0 }, { buf: 1 }, k, rows],
        out: 1,
      });
    }
    cases.push({
      name: `rms_norm K=${k} rows=${rows}`,
      id: "rms_norm",
      bufs: [bytesOf(x), bytesOf(gauss(k)), 4 * k * rows],
      args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, k, rows, 1e-5],
      out: 2,
    });
  }
  for (const n of [1, 5, 16, 100, 6912, 6913]) {
    const g = gauss(n, 4), u = gauss(n);
    for (let i = 0; i < n; i += 37) g[i] = [-200, 200, 89, -104, 0, -0, 88.5, -87.5][i % 8];
    for (const id of ["swiglu", "relu2_glu", "add"] as const) {
      cases.push({
        name: `${id} n=${n}`,
        id,
        bufs: [bytesOf(g), bytesOf(u), 4 * n],
        args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, n],
        out: 2,
      });
    }
    cases.push({
      name: `mul_scalar n=${n}`,
      id: "mul_scalar",
      bufs: [bytesOf(g), bytesOf(Float32Array.of(-1.75)), 4 * n],
      args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, n],
      out: 2,
    });
  }
  for (
    const [nTok, nHead, hd, nRot] of [[1, 20, 128, 128], [3, 5, 128, 128], [9, 4, 64, 64], [2, 3, 64, 32], [
      5,
      2,
      10,
      6,
    ]]
  ) {
    const x = gauss(nTok * nHead * hd);
    for (const id of ["rope.neox", "rope.norm"] as const) {
      cases.push({
        name: `${id} ${nTok}x${nHead}x${hd}/${nRot}`,
        id,
        bufs: [bytesOf(x), bytesOf(gauss(nTok * nRot))],
        args: [{ buf: 0 }, { buf: 1 }, nTok, nHead, hd, nRot],
        out: 0,
      });
    }
  }
  // copy: whole 16-byte lanes, byte tails, and more than one 16 KiB work chunk.
  for (const n of [4, 20, 1024, 40_004]) {
    const src = new Uint8Array(n).map((_, i) => (i * 37 + 11) & 255);
    cases.push({ name: `copy n=${n}`, id: "copy", bufs: [src, n], args: [{ buf: 0 }, { buf: 1 }, n], out: 1 });
  }
  // Attention: one token and batches, GQA and MQA, cache rows past 16 (tinyBLAS lanes) and 64 (vec_dot lanes).
  for (
    const [nTok, pos0, nHead, nKv, hd] of [
      [1, 0, 4, 2, 64],
      [1, 37, 20, 5, 128],
      [1, 70, 4, 1, 128],
      [1, 200, 8, 2, 64],
      [1, 130, 4, 4, 80],
      [5, 3, 4, 1, 80],
      [9, 0, 2, 2, 32],
      [16, 10, 4, 2, 64],
      [3, 100, 4, 4, 128],
      [4, 0, 2, 1, 7],
    ]
  ) {
    const nCtx = pos0 + nTok + 3;
    const k = gauss(nCtx * nKv * hd), v = gauss(nCtx * nKv * hd);
    cases.push({
      name: `attention ${nTok}@${pos0} ${nHead}/${nKv}x${hd}`,
      id: "attention",
      bufs: [bytesOf(gauss(nTok * nHead * hd)), bytesOf(k), bytesOf(v), 4 * nTok * nHead * hd, 4 * 2 * nCtx],
      args: [
        { buf: 0 },
        { buf: 1 },
        { buf: 2 },
        { buf: 3 },
        { buf: 4 },
        nTok,
        pos0,
        nHead,
        nKv,
        hd,
        nCtx,
        Math.fround(1 / Math.sqrt(hd)),
      ],
      out: 3,
    });
  }
  for (
    const [name, type, rowBytes] of [
      ["f32", GgmlType.F32, 4 * 256],
      ["f16", GgmlType.F16, 2 * 256],
      ["bf16", GgmlType.BF16, 2 * 256],
      ["q8_0", GgmlType.Q8_0, 8 * 34],
      ["q6_k", GgmlType.Q6_K, 210],
    ] as const
  ) {
    const fmt = quantFormat(type);
    const w = new Uint8Array(6 * rowBytes);
    fmt.quantize(gauss(6 * 256), w);
    const ids = Int32Array.from([4, 0, 4, 5]);
    cases.push({
      name: `get_rows.${name}`,
      id: `get_rows.${name}`,
      bufs: [w, bytesOf(ids), 4 * 256 * ids.length],
      args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, 256, ids.length],
      out: 2,
    });
  }
  return cases;
}

Deno.test("wasm kernels give the reference backend's bytes on random inputs (1 and 2 threads)", async (t) => {
  using ref = await createBackend("ref");
  using w1 = await createBackend("wasm", { threads: 1 });
  using w2 = await createBackend("wasm", { threads: 2 });
  const cases = [...gemmCases(ref), ...otherCases()];
  const byKernel = new Map<KernelId, Case[]>();
  for (const c of cases) byKernel.set(c.id, [...(byKernel.get(c.id) ?? []), c]);
  for (const [id, list] of byKernel) {
    await t.step(id, () => {
      for (const c of list) {
        const want = runCase(ref, c);
        for (const [label, be] of [["wasm/1", w1], ["wasm/2", w2]] as const) {
          const got = runCase(be, c);
          let d = 0;
          while (d < got.length && got[d] === want[d]) d++;
          if (d < got.length) {
            const f = (u: Uint8Array) => new DataView(u.buffer).getFloat32(d & ~3, true);
            assert.fail(
              `${c.name}: ${label} differs from ref at byte ${d} of ${got.length} (as f32: ${f(got)} vs ${f(want)})`,
            );
          }
        }
      }
    });
  }
  // Every kernel of the ABI table is covered.
  assert.deepEqual([...byKernel.keys()].sort(), [...new Set(cases.map((c) => c.id))].sort());
});

const MODELS: Partial<SynthSpec>[] = [
  {},
  { embedType: "bf16" },
  { embedType: "q8_0" },
  { embedType: "q6_k" },
  { type: "tq1_0", embedType: "q6_k", heads: 8, headsKv: 2, seed: 3 },
  { type: "tq2_0", embd: 512, ff: 1536, heads: 8, headsKv: 1, layers: 2, seed: 7 },
  { type: "tq2_0", scales: true, seed: 5 },
  { type: "i2_s", embedType: "q8_0" },
  { arch: "bitnet-b1.58", embedType: "bf16" },
];

for (const spec of MODELS) {
  Deno.test(`wasm and ref give byte-identical logits on a generated model (${JSON.stringify(spec)})`, async () => {
    const path = await fixtureModel(spec);
    using ref = await Engine.load(path, { backend: "ref", nCtx: 160, numerics: "exact" });
    using wasm = await Engine.load(path, { backend: "wasm", threads: 2, nCtx: 160, numerics: "exact" });
    // A prompt longer than 64 tokens, so that cache rows pass ggml's 16- and 64-lane accumulators.
    const text = "The quick brown fox jumps over the lazy dog because it wanted to see what was on the other side. ";
    const ids = ref.tokenize(text.repeat(3)).slice(0, 90);
    const same = (a: Float32Array, b: Float32Array, what: string) => {
      const d = bytesOf(a).findIndex((x, i) => x !== bytesOf(b)[i]);
      assert.equal(d, -1, `${what}: logits differ at float ${d >> 2} (${a[d >> 2]} vs ${b[d >> 2]})`);
    };
    same(await wasm.eval(ids), await ref.eval(ids), "prompt");
    let next = argmax(await ref.eval(ids));
    for (let i = 0; i < 4; i++) {
      const a = (await ref.decode([next])).slice(), b = (await wasm.decode([next])).slice();
      same(b, a, `decode step ${i}`);
      next = argmax(a);
    }
  });
}
