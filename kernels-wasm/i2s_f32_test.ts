/**
 * `gemm.i2_s_f32` (I2_S weights times unquantized f32 activations, the engine's float activation precision): the
 * SIMD export equals its scalar twin byte for byte on every module and thread count, and both equal the definition
 * of ABI.md (16 lanes, fixed reduction) computed here in float32 steps. Against the reference backend:
 * engine/backends/wasm_exact_test.ts.
 */

import { equal } from "node:assert/strict";
import { assertSameBytes, gauss, Rig, rng } from "./_testing.ts";

const f32 = Math.fround;

/** Random I2_S rows (codes 0..2, every 16th byte fully random so code 3 is covered) and the tail scale. */
function i2sWeights(r: () => number, n: number, k: number): Uint8Array {
  const out = new Uint8Array((n * k) / 4 + 32);
  for (let i = 0; i < (n * k) / 4; i++) {
    let v = 0;
    for (let j = 0; j < 4; j++) v |= Math.floor(r() * 3) << (2 * j);
    out[i] = r() < 1 / 16 ? Math.floor(r() * 256) : v;
  }
  new DataView(out.buffer).setFloat32((n * k) / 4, 0.0123 + r(), true);
  return out;
}

/** The ABI.md definition, one f32 rounding per step. */
function definition(w: Uint8Array, x: Float32Array, n: number, k: number, t: number, o: number): number {
  const scale = new DataView(w.buffer).getFloat32((n * k) / 4, true);
  const acc = new Float32Array(16);
  for (let e = 0; e < k; e++) {
    const b = Math.floor(e / 128), r = e % 128;
    const code = (w[o * (k / 4) + b * 32 + (r % 32)] >> (6 - 2 * Math.floor(r / 32))) & 3;
    acc[e % 16] = f32(acc[e % 16] + (code - 1) * x[t * k + e]);
  }
  const v = (i: number) => f32(f32(acc[i] + acc[4 + i]) + f32(acc[8 + i] + acc[12 + i]));
  return f32(f32(f32(v(0) + v(1)) + f32(v(2) + v(3))) * scale);
}

Deno.test("gemm.i2_s_f32: SIMD export == scalar twin == the ABI definition, every module and thread count", async () => {
  using rig = await Rig.standard();
  const r = rng(4242);
  for (const k of [128, 256, 384, 1024]) {
    for (const [nOut, nTok] of [[1, 1], [3, 2], [13, 5], [67, 9], [131, 1]]) {
      const wb = i2sWeights(r, nOut, k);
      const x = Float32Array.from({ length: nTok * k }, () => gauss(r) * (r() < 0.1 ? 1e4 : 1));
      const w = rig.alloc(wb.length, wb), xb = rig.alloc(x.byteLength, x);
      const y = rig.alloc(4 * nOut * nTok), yRef = rig.alloc(4 * nOut * nTok);
      rig.runBoth("gemm.i2_s_f32", [w, xb], y, yRef, [nOut, k, nTok]);
      assertSameBytes(rig, y, yRef, `gemm.i2_s_f32 n_out=${nOut} K=${k} n_tok=${nTok}`);
      const got = new Float32Array(rig.read(y, 0).buffer);
      for (const [t, o] of [[0, 0], [nTok - 1, nOut - 1], [nTok >> 1, nOut >> 1]]) {
        equal(got[t * nOut + o], definition(wb, x, nOut, k, t, o), `K=${k} token ${t} row ${o}`);
      }
    }
  }
});

Deno.test("gemm.i2_s_f32 rejects K that is not a multiple of 128, naming the kernel", async () => {
  using rig = await Rig.standard();
  const b = rig.backends[0], p = b.alloc(4096);
  let msg = "";
  try {
    b.run("gemm.i2_s_f32", p, p, p, 1, 100, 1);
  } catch (e) {
    msg = String(e);
  }
  equal(/gemm\.i2_s_f32: K = 100 is not a multiple of the block size 128/.test(msg), true, msg);
});
