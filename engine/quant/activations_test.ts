import assert from "node:assert/strict";
import { quantizeRowI8S, quantizeRowQ8_0, quantizeRowQ8K } from "./activations.ts";
import { I8S_ROW_EXTRA_BYTES } from "./ggml_type.ts";
import { quantizeQ8K } from "./q8_k.ts";
import { makeData } from "./_testing.ts";

// bitnet.cpp's formula, written independently: max in double with a 1e-5 floor, s rounded to f32, the product
// x * s rounded to f32, then round half to even (via the 2^52 trick in double).
function i8sOracle(x: Float32Array): { q: number[]; s: number; sum: number } {
  let max = 1e-5;
  for (const v of x) max = Math.max(max, Math.abs(v));
  const s = Math.fround(127 / max);
  const q = [...x].map((v) => {
    const p = Math.fround(v * s);
    const r = Math.abs(p) < 2 ** 52 ? Math.sign(p) * ((Math.abs(p) + 2 ** 52) - 2 ** 52) : p;
    return Math.max(-128, Math.min(127, r)) + 0; // + 0: no -0 in int8
  });
  return { q, s, sum: q.reduce((a, b) => a + b, 0) };
}

Deno.test("quantizeRowI8S() matches the bitnet.cpp formula per row, in the ABI.md row layout", () => {
  const k = 384;
  const rows = 3;
  const x = makeData("gaussian", k * rows, 12);
  x.set([0.5, 1.5, -2.5], k); // ties in row 1 only matter if s = 1; they exercise the path anyway
  const dst = new Uint8Array(rows * (k + I8S_ROW_EXTRA_BYTES)).fill(0xaa);
  quantizeRowI8S(x, dst, { rowLength: k });
  const v = new DataView(dst.buffer);
  for (let r = 0; r < rows; r++) {
    const o = r * (k + 16);
    const want = i8sOracle(x.subarray(r * k, (r + 1) * k));
    assert.deepEqual([...new Int8Array(dst.buffer, o, k)], want.q, `row ${r}`);
    assert.equal(v.getFloat32(o + k, true), want.s);
    assert.equal(v.getInt32(o + k + 4, true), want.sum);
    assert.deepEqual([...dst.subarray(o + k + 8, o + k + 16)], new Array(8).fill(0));
  }
});

Deno.test("quantizeRowI8S() floors max|x| at 1e-5 and rounds ties to even", () => {
  const dst = new Uint8Array(4 + 16);
  quantizeRowI8S(new Float32Array([0, 0, 0, 0]), dst);
  assert.equal(new DataView(dst.buffer).getFloat32(4, true), Math.fround(127 / 1e-5));
  // max = 127 -> s = 1: x itself is the product; 0.5 -> 0, 1.5 -> 2, -2.5 -> -2.
  quantizeRowI8S(new Float32Array([127, 0.5, 1.5, -2.5]), dst);
  assert.deepEqual([...new Int8Array(dst.buffer, 0, 4)], [127, 0, 2, -2]);
  assert.equal(new DataView(dst.buffer).getInt32(8, true), 127);
});

Deno.test("quantizeRowI8S() rejects a row length that does not divide the input", () => {
  assert.throws(() => quantizeRowI8S(new Float32Array(10), new Uint8Array(100), { rowLength: 4 }), /rows of 4/);
  assert.throws(() => quantizeRowI8S(new Float32Array(8), new Uint8Array(10), { rowLength: 8 }), RangeError);
});

Deno.test("quantizeRowQ8K() is the Q8_K reference quantizer; quantizeRowQ8_0() writes 34-byte blocks", () => {
  assert.equal(quantizeRowQ8K, quantizeQ8K);
  const x = makeData("uniform", 64, 3);
  const out = new Uint8Array(68);
  quantizeRowQ8_0(x, out);
  let amax = 0;
  for (let i = 32; i < 64; i++) amax = Math.max(amax, Math.abs(x[i]));
  const q = new Int8Array(out.buffer, 36, 32);
  const iMax = [...x.subarray(32)].findIndex((v) => Math.abs(v) === amax);
  assert.equal(Math.abs(q[iMax]), 127);
});
