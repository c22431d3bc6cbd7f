import assert from "node:assert/strict";
import { dequantizeQ8K, quantizeQ8K } from "./q8_k.ts";
import { makeData } from "./_testing.ts";

function parse(b: Uint8Array, blk = 0) {
  const v = new DataView(b.buffer, b.byteOffset + blk * 292, 292);
  return {
    d: v.getFloat32(0, true),
    qs: [...new Int8Array(b.buffer, b.byteOffset + blk * 292 + 4, 256)],
    bsums: Array.from({ length: 16 }, (_, g) => v.getInt16(260 + 2 * g, true)),
  };
}

Deno.test("quantizeQ8K() takes the signed absmax at its first occurrence: d is negative for a positive max", () => {
  const x = new Float32Array(256);
  x[5] = 3;
  x[9] = -3; // same magnitude later: ignored (strict >)
  x[100] = 1;
  const out = new Uint8Array(292);
  quantizeQ8K(x, out);
  const p = parse(out);
  assert.equal(p.d, Math.fround(1 / Math.fround(-127 / 3)));
  assert.deepEqual([p.qs[5], p.qs[9]], [-127, 127]);
  x[5] = -3;
  x[9] = 3;
  quantizeQ8K(x, out);
  assert.ok(parse(out).d > 0);
});

Deno.test("quantizeQ8K() rounds half to even and stores bsums as sums of 16 codes", () => {
  const x = new Float32Array(256);
  x.set([-127, 0.5, 1.5, 2.5, -0.5, -3.5]); // max = -127: iscale = 1, so these are exact ties
  const out = new Uint8Array(292);
  quantizeQ8K(x, out);
  const p = parse(out);
  assert.deepEqual(p.qs.slice(0, 6), [-127, 0, 2, 2, 0, -4]);
  assert.equal(p.d, 1);
  const y = makeData("gaussian", 512, 8);
  const two = new Uint8Array(584);
  quantizeQ8K(y, two);
  for (let blk = 0; blk < 2; blk++) {
    const q = parse(two, blk);
    for (let g = 0; g < 16; g++) {
      assert.equal(q.bsums[g], q.qs.slice(16 * g, 16 * g + 16).reduce((a, c) => a + c, 0));
    }
    assert.ok(q.qs.every((c) => c >= -127 && c <= 127));
  }
});

Deno.test("quantizeQ8K() writes an all-zero block as d = 0, zero codes and zero bsums", () => {
  const out = new Uint8Array(292).fill(0x77);
  quantizeQ8K(makeData("zeros", 256, 1), out);
  assert.deepEqual(out, new Uint8Array(292));
});

Deno.test("dequantizeQ8K() is d * q", () => {
  const x = makeData("extremes", 256, 2);
  const b = new Uint8Array(292);
  quantizeQ8K(x, b);
  const y = new Float32Array(256);
  dequantizeQ8K(b, y);
  const p = parse(b);
  for (let i = 0; i < 256; i++) assert.equal(y[i], Math.fround(p.d * p.qs[i]));
});
