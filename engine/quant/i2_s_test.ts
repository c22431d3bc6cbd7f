import assert from "node:assert/strict";
import { dequantizeI2S, quantizeI2S } from "./i2_s.ts";
import { makeData } from "./_testing.ts";

Deno.test("quantizeI2S() keeps the sign of each weight, zero below 1e-6, and the f32 absmax in the tail", () => {
  const x = new Float32Array(256);
  // f32(1e-6) = 9.99999997e-7 is below the C threshold `fabs((double)x) < 1e-6`, so it is zero; 1.01e-6 is not.
  x.set([1.5, -1.5, 9e-7, -9e-7, 1e-6, -2.25, 1.01e-6]);
  const b = new Uint8Array(64 + 32).fill(0xee);
  quantizeI2S(x, b);
  const v = new DataView(b.buffer);
  assert.equal(v.getFloat32(64, true), 2.25);
  assert.deepEqual([...b.subarray(68)], new Array(28).fill(0));
  const y = new Float32Array(256);
  dequantizeI2S(b, y);
  assert.deepEqual([...y.subarray(0, 8)], [2.25, -2.25, 0, 0, 0, -2.25, 2.25, 0]);
});

Deno.test("quantizeI2S() uses the 128-element block layout: byte g holds g, 32+g, 64+g, 96+g from the top bits", () => {
  const x = new Float32Array(256);
  x[128 + 5] = 1; // block 1, group 0 -> bits 7:6 of byte 32 + 5
  x[128 + 96 + 5] = -1; // group 3 -> bits 1:0
  const b = new Uint8Array(96);
  quantizeI2S(x, b);
  assert.equal(b[37], (2 << 6) | (1 << 4) | (1 << 2) | 0);
  assert.equal(b[0], 0x55);
});

Deno.test("dequantizeI2S(quantizeI2S(x)) is exact for ternary weights with one scale", () => {
  const t = makeData("ternary", 1024, 9).map(Math.sign);
  const x = t.map((v) => v * 0.6180339);
  const b = new Uint8Array(256 + 32);
  quantizeI2S(x, b);
  const y = new Float32Array(1024);
  dequantizeI2S(b, y);
  assert.deepEqual(y, x);
});

Deno.test("I2_S functions reject a length that is not a multiple of 128 or a missing tail", () => {
  assert.throws(() => quantizeI2S(new Float32Array(64), new Uint8Array(64)), /block size 128/);
  assert.throws(() => dequantizeI2S(new Uint8Array(32), new Float32Array(128)), /tail/);
});
