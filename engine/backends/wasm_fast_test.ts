/**
 * The `fast` numerics profile's kernels on the `wasm` backend against their twins on the `ref` backend
 * (engine/backends/ref_fast.ts): the ternary GEMM, the repacks and the bandwidth probe byte for byte on every
 * module and thread count; the float kernels byte for byte on the SIMD128 module (the twins' multiply-then-add
 * order) and within engine/backends/tolerances.ts on the relaxed module (fused multiply-adds).
 *
 * @module
 */

import assert from "node:assert/strict";
import { RefBackend } from "./ref.ts";
import type { KernelBackend, KernelId } from "./mod.ts";
import { WasmBackend } from "./wasm.ts";
import { TOLERANCES } from "./tolerances.ts";
import { f32ToF16Row } from "../quant/mod.ts";
import { Prng } from "../sampling.ts";

const rng = new Prng(20261207);

function gauss(n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rng.next(), 1e-12), v = rng.next();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A kernel call: input buffers (bytes) or output sizes, arguments (`{ buf }` or numbers), the compared buffer. */
interface Case {
  readonly name: string;
  readonly id: KernelId;
  readonly bufs: readonly (Uint8Array | number)[];
  readonly args: readonly ({ buf: number } | number)[];
  readonly out: number;
  /** Float kernels: the relaxed module may differ by `bound(j)` at f32 element j. */
  readonly bound?: (j: number) => number;
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

function tq2Weights(nOut: number, k: number): Uint8Array {
  const nb = nOut * k / 256, out = new Uint8Array(nb * 66);
  const h = new Uint16Array(1);
  for (let b = 0; b < nb; b++) {
    for (let i = 0; i < 64; i++) out[b * 66 + i] = Math.floor(rng.next() * 256);
    f32ToF16Row(Float32Array.of(0.01 + rng.next() * 0.05), h);
    new DataView(out.buffer).setUint16(b * 66 + 64, h[0], true);
  }
  return out;
}

/** Q8_K activations computed on the reference backend (the quantizer is compared elsewhere). */
function q8k(ref: KernelBackend, x: Float32Array, k: number, rows: number): Uint8Array {
  return runCase(ref, {
    name: "",
    id: "quantize.q8_k",
    bufs: [bytesOf(x), rows * k / 256 * 292],
    args: [{ buf: 0 }, { buf: 1 }, k, rows],
    out: 1,
  });
}

function cases(ref: KernelBackend): Case[] {
  const out: Case[] = [];
  for (const [nOut, k, nTok] of [[1, 256, 1], [3, 512, 1], [13, 768, 3], [67, 1024, 1], [16, 512, 5], [9, 2560, 2]]) {
    const w = tq2Weights(nOut, k);
    const x = gauss(nTok * k, 2);
    if (nTok > 1) x.fill(0, k, k + 256);
    out.push({
      name: `fast.repack.tq2_0x2 ${nOut}x${k}`,
      id: "fast.repack.tq2_0x2",
      bufs: [w],
      args: [{ buf: 0 }, nOut, k],
      out: 0,
    });
    const w2 = runCase(ref, out[out.length - 1]);
    out.push({
      name: `fast.gemm.tq2_0x2_q8_k ${nOut}x${k}x${nTok}`,
      id: "fast.gemm.tq2_0x2_q8_k",
      bufs: [w2, q8k(ref, x, k, nTok), 4 * nOut * nTok],
      args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, nOut, k, nTok],
      out: 2,
    });
    out.push({
      name: `fast.repack.tq1_0_tq2_0x2 ${nOut}x${k}`,
      id: "fast.repack.tq1_0_tq2_0x2",
      bufs: [Uint8Array.from({ length: nOut * k / 256 * 54 }, () => Math.floor(rng.next() * 256)), nOut * k / 256 * 66],
      args: [{ buf: 0 }, { buf: 1 }, nOut, k],
      out: 1,
    });
  }
  for (const f16 of [true, false]) {
    for (const [nOut, k, nTok] of [[1, 7, 1], [5, 33, 2], [13, 100, 1], [8, 2560, 1], [4, 256, 3]]) {
      const wf = gauss(nOut * k, 0.05);
      const w = new Uint16Array(nOut * k);
      if (f16) f32ToF16Row(wf, w);
      else new Uint32Array(wf.buffer).forEach((u, i) => (w[i] = u >>> 16));
      const wv = Float32Array.from(w, f16 ? halfValue : bf16Value);
      const x = gauss(nTok * k, 2);
      if (nTok > 1) x[k + 1] = 3e4;
      out.push({
        name: `${f16 ? "fast.gemm.f16_f32" : "fast.gemm.bf16_f32"} ${nOut}x${k}x${nTok}`,
        id: f16 ? "fast.gemm.f16_f32" : "fast.gemm.bf16_f32",
        bufs: [bytesOf(w), bytesOf(x), 4 * nOut * nTok],
        args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, nOut, k, nTok],
        out: 2,
        bound: (j) => {
          const t = Math.floor(j / nOut), o = j % nOut;
          let s = 0;
          for (let i = 0; i < k; i++) s += Math.abs(wv[o * k + i] * x[t * k + i]);
          return TOLERANCES.fastDot.rel * s;
        },
      });
    }
  }
  for (
    const [nh, nkv, hd, nTok, pos0] of [[4, 1, 64, 1, 33], [20, 5, 128, 1, 70], [8, 2, 16, 3, 5], [6, 6, 12, 2, 9]]
  ) {
    const nCtx = 96;
    const v = gauss(nCtx * nkv * hd);
    const vmax = v.reduce((m, a) => Math.max(m, Math.abs(a)), 0);
    out.push({
      name: `fast.attention ${nh}/${nkv} hd=${hd} n_tok=${nTok} pos0=${pos0}`,
      id: "fast.attention",
      bufs: [
        bytesOf(gauss(nTok * nh * hd)),
        bytesOf(gauss(nCtx * nkv * hd)),
        bytesOf(v),
        4 * nTok * nh * hd,
        4 * 4 * 4 * nCtx,
      ],
      args: [
        { buf: 0 },
        { buf: 1 },
        { buf: 2 },
        { buf: 3 },
        { buf: 4 },
        nTok,
        pos0,
        nh,
        nkv,
        hd,
        nCtx,
        1 / Math.sqrt(hd),
      ],
      out: 3,
      bound: () => TOLERANCES.fastAttention.rel * vmax,
    });
  }
  const g = gauss(1029, 4), u = gauss(1029);
  g[3] = 100;
  g[4] = -100;
  out.push({
    name: "fast.swiglu 1029",
    id: "fast.swiglu",
    bufs: [bytesOf(g), bytesOf(u), 4 * 1029],
    args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, 1029],
    out: 2,
    bound: (j) => TOLERANCES.fastExp.rel * Math.abs(g[j] * u[j]),
  });
  out.push({
    name: "probe.read",
    id: "probe.read",
    bufs: [Uint8Array.from({ length: 64 * 77 }, () => Math.floor(rng.next() * 256)), 4],
    args: [{ buf: 0 }, 64 * 77, { buf: 1 }],
    out: 1,
  });
  return out;
}

function halfValue(h: number): number {
  const e = (h >> 10) & 31, m = h & 1023, s = h & 0x8000 ? -1 : 1;
  return s * (e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15));
}

function bf16Value(h: number): number {
  return new Float32Array(new Uint32Array([h << 16]).buffer)[0];
}

Deno.test("fast kernels: wasm (both modules, 1 and 2 threads) against the ref backend's twins", async () => {
  using ref = RefBackend.create({ threads: 1 });
  using ref3 = RefBackend.create({ threads: 3 });
  const wasm = [
    await WasmBackend.create({ threads: 1, relaxed: false }),
    await WasmBackend.create({ threads: 2, relaxed: false }),
    await WasmBackend.create({ threads: 1 }),
    await WasmBackend.create({ threads: 2, inlineBelowNs: 0 }),
  ];
  try {
    for (const c of cases(ref)) {
      const wantBytes = runCase(ref, c);
      assert.deepEqual(runCase(ref3, c), wantBytes, `${c.name}: ref with 3 threads differs from 1 thread`);
      for (const be of wasm) {
        const got = runCase(be, c);
        const flavor = be.kernelModule.flavor;
        const label = `${c.name}: wasm ${flavor}/t${be.threads}`;
        if (c.bound === undefined || flavor === "simd128") {
          assert.deepEqual(got, wantBytes, `${label} differs from ref`);
          continue;
        }
        const g = new Float32Array(got.buffer), want = new Float32Array(wantBytes.buffer);
        for (let j = 0; j < want.length; j++) {
          if (Object.is(g[j], want[j])) continue;
          const err = Math.abs(g[j] - want[j]);
          assert.ok(err <= c.bound(j), `${label} element ${j}: ${g[j]} vs ref ${want[j]} (bound ${c.bound(j)})`);
        }
      }
    }
  } finally {
    for (const b of wasm) b.close();
  }
});
