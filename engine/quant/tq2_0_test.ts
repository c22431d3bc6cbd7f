import assert from "node:assert/strict";
import { dequantizeTq2_0, quantizeTq2_0 } from "./tq2_0.ts";
import { f16ToF32, f32ToF16 } from "./fp16.ts";
import { unpackTernary } from "./ternary.ts";
import { GgmlType } from "./ggml_type.ts";
import { makeData } from "./_testing.ts";

Deno.test("quantizeTq2_0() stores d = fp16(absmax) and codes value + 1 in ggml's bit layout", () => {
  const x = new Float32Array(256);
  x[0] = 2; // byte 0 bits 0-1
  x[32] = -2; // byte 0 bits 2-3
  x[128 + 96 + 31] = 2; // byte 32 + 31, bits 6-7
  const b = new Uint8Array(66);
  quantizeTq2_0(x, b);
  assert.equal(b[0], 2 | (0 << 2) | (1 << 4) | (1 << 6));
  assert.equal(b[63], 1 | (1 << 2) | (1 << 4) | (2 << 6));
  assert.equal(b[64] | (b[65] << 8), f32ToF16(2));
});

Deno.test("quantizeTq2_0() rounds |x|/d = 0.5 away from zero (lroundf)", () => {
  const x = new Float32Array(256);
  x.set([4, 2, -2, 1.9999999, -1.9999999]); // d = 4: 2/4 = 0.5 is a tie -> +-1; just below -> 0
  const b = new Uint8Array(66);
  quantizeTq2_0(x, b);
  const codes = new Uint8Array(256);
  unpackTernary(GgmlType.TQ2_0, b, codes);
  assert.deepEqual([...codes.subarray(0, 5)], [2, 2, 0, 1, 1]);
});

Deno.test("quantizeTq2_0() gives d = 0 for an all-zero block, and dequantize gives zeros", () => {
  const b = new Uint8Array(66).fill(0xff);
  quantizeTq2_0(makeData("zeros", 256, 2), b);
  assert.deepEqual([b[64], b[65]], [0, 0]);
  assert.ok(b.subarray(0, 64).every((v) => v === 0x55));
  const y = new Float32Array(256).fill(9);
  dequantizeTq2_0(b, y);
  assert.ok(y.every((v) => v === 0));
});

Deno.test("dequantizeTq2_0() gives (code - 1) * d, and code 3 (never written) as 2 * d like ggml", () => {
  const b = new Uint8Array(66).fill(0b11100100); // codes 0,1,2,3 for n = 0..3
  b[64] = 0x00;
  b[65] = 0xbc; // d = -1
  const y = new Float32Array(256);
  dequantizeTq2_0(b, y);
  assert.deepEqual([y[0], y[32], y[64], y[96]], [1, -0, -1, -2]);
  assert.ok(Object.is(y[32], -0));
  assert.equal(f16ToF32(0xbc00), -1);
});
