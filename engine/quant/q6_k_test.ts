import assert from "node:assert/strict";
import { dequantizeQ6K, quantizeQ6K } from "./q6_k.ts";
import { f16ToF32 } from "./fp16.ts";
import { makeData } from "./_testing.ts";

Deno.test("quantizeQ6K() writes an all-zero (or below 1e-15) block as 210 zero bytes", () => {
  const out = new Uint8Array(420).fill(0x5a);
  const x = makeData("zeros", 512, 1);
  x[300] = 1e-16;
  x[260] = 1; // second block is not zero
  quantizeQ6K(x, out);
  assert.deepEqual(out.subarray(0, 210), new Uint8Array(210));
  assert.notDeepEqual(out.subarray(210), new Uint8Array(210));
});

Deno.test("dequantizeQ6K() reads the ql/qh/scales/d layout of block_q6_K", () => {
  // Element e of a 128-half: low nibble from ql[(e%64)] (low/high nibble by e>=64), 2 high bits from qh[e%32].
  const b = new Uint8Array(210);
  b[208] = 0x00;
  b[209] = 0x3c; // d = 1
  for (let i = 0; i < 16; i++) b[192 + i] = i + 1; // scales 1..16
  b[0] = 0x21; // ql[0]: element 0 low = 1, element 64 low = 2
  b[128] = 0b11100100; // qh[0]: element 0 high 0, element 32 high 1, element 64 high 2, element 96 high 3
  const y = new Float32Array(256);
  dequantizeQ6K(b, y);
  assert.equal(y[0], 1 * (1 - 32)); // scale 1 (sub-block 0)
  assert.equal(y[32], 3 * ((1 << 4) - 32)); // scale of sub-block 2
  assert.equal(y[64], 5 * ((2 | (2 << 4)) - 32)); // scale of sub-block 4
  assert.equal(y[96], 7 * ((3 << 4) - 32)); // scale of sub-block 6
  assert.equal(y[1], 1 * -32);
});

Deno.test("quantizeQ6K() round trip error stays below a 6-bit step of each 16-value sub-block", () => {
  for (const dist of ["gaussian", "uniform", "sparse"] as const) {
    const x = makeData(dist, 1024, 5);
    const b = new Uint8Array(4 * 210);
    quantizeQ6K(x, b);
    const y = new Float32Array(1024);
    dequantizeQ6K(b, y);
    for (let s = 0; s < 1024; s += 16) {
      let amax = 0;
      for (let i = s; i < s + 16; i++) amax = Math.max(amax, Math.abs(x[i]));
      const d = f16ToF32(b[(s >> 8) * 210 + 208] | (b[(s >> 8) * 210 + 209] << 8));
      // step = |d * scale| <= amax / 31 (up to rounding of the scale); allow the 8-bit scale rounding too.
      const tol = amax / 31 + Math.abs(d) * 2;
      for (let i = s; i < s + 16; i++) assert.ok(Math.abs(y[i] - x[i]) <= tol, `${dist}[${i}] ${x[i]} -> ${y[i]}`);
    }
  }
});

Deno.test("quantizeQ6K() represents a constant block exactly when the value is f16-friendly", () => {
  const x = new Float32Array(256).fill(-2);
  const b = new Uint8Array(210);
  quantizeQ6K(x, b);
  const y = new Float32Array(256);
  dequantizeQ6K(b, y);
  assert.deepEqual(y, x);
});
