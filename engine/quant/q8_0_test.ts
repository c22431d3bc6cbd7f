import assert from "node:assert/strict";
import { dequantizeQ8_0, quantizeQ8_0, quantizeRowQ8_0 } from "./q8_0.ts";
import { f16ToF32, f32ToF16 } from "./fp16.ts";
import { makeData } from "./_testing.ts";

const qs = (b: Uint8Array, blk = 0) => [...new Int8Array(b.buffer, b.byteOffset + blk * 34 + 2, 32)];
const dOf = (b: Uint8Array, blk = 0) => f16ToF32(b[blk * 34] | (b[blk * 34 + 1] << 8));

Deno.test("quantizeQ8_0() gives d = 0 and zero codes for an all-zero block", () => {
  for (const quant of [quantizeQ8_0, quantizeRowQ8_0]) {
    const out = new Uint8Array(68).fill(0xaa);
    const x = new Float32Array(64);
    x[40] = 1; // the second block is not zero
    quant(x, out);
    assert.equal(dOf(out), 0);
    assert.deepEqual(qs(out), new Array(32).fill(0));
    assert.equal(dOf(out, 1), f16ToF32(f32ToF16(Math.fround(1 / 127))));
  }
});

Deno.test("quantizeQ8_0() maps the absmax to +-127 and uses d = amax / 127", () => {
  const x = makeData("gaussian", 32, 3);
  x[17] = -50; // the absmax, negative
  const out = new Uint8Array(34);
  quantizeQ8_0(x, out);
  assert.equal(qs(out)[17], -127);
  assert.equal(out[0] | (out[1] << 8), f32ToF16(Math.fround(50 / 127)));
  for (const v of qs(out)) assert.ok(v >= -127 && v <= 127);
});

Deno.test("quantizeQ8_0() rounds ties away from zero (roundf), quantizeRowQ8_0() to even (_mm256_round_ps)", () => {
  // amax = 127 makes d = 1 and id = 1 in both, so x itself is the scaled value: 0.5, 1.5, 2.5, -0.5, -2.5 are ties.
  const x = new Float32Array(32);
  x.set([127, 0.5, 1.5, 2.5, -0.5, -2.5, 0.49999997]);
  const ref = new Uint8Array(34), row = new Uint8Array(34);
  quantizeQ8_0(x, ref);
  quantizeRowQ8_0(x, row);
  assert.deepEqual(qs(ref).slice(0, 7), [127, 1, 2, 3, -1, -3, 0]);
  assert.deepEqual(qs(row).slice(0, 7), [127, 0, 2, 2, 0, -2, 0]);
});

Deno.test("dequantizeQ8_0() is q * d with the f16 d", () => {
  const x = makeData("uniform", 96, 4);
  const b = new Uint8Array(3 * 34);
  quantizeQ8_0(x, b);
  const y = new Float32Array(96);
  dequantizeQ8_0(b, y);
  for (let i = 0; i < 96; i++) assert.equal(y[i], Math.fround(qs(b, i >> 5)[i & 31] * dOf(b, i >> 5)));
});
