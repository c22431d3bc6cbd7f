import assert from "node:assert/strict";
import { dequantizeTq1_0, quantizeTq1_0 } from "./tq1_0.ts";
import { f32ToF16 } from "./fp16.ts";
import { unpackTernary } from "./ternary.ts";
import { GgmlType } from "./ggml_type.ts";
import { makeData } from "./_testing.ts";

Deno.test("quantizeTq1_0() round-trips ternary weights exactly through dequantizeTq1_0()", () => {
  const x = makeData("ternary", 1024, 3);
  const b = new Uint8Array(4 * 54);
  quantizeTq1_0(x, b);
  const y = new Float32Array(1024);
  dequantizeTq1_0(b, y);
  // makeData("ternary") block scales are f32; the stored d is their f16 rounding.
  for (let i = 0; i < 1024; i++) {
    const blk = i >> 8;
    const d = b[blk * 54 + 52] | (b[blk * 54 + 53] << 8);
    assert.equal(d, f32ToF16(Math.fround(0.05 + (blk % 7) * 0.37)));
    assert.equal(Math.sign(y[i]), Math.sign(x[i]));
  }
});

Deno.test("quantizeTq1_0() packs the first element into the most significant trit, ceil(q * 256 / 243)", () => {
  const x = new Float32Array(256);
  x[0] = 1; // trit 2 for element 0 of qs[0], the top trit: q = 2*81 + 1*27 + 1*9 + 1*3 + 1 = 202
  x[240] = -1; // qh[0], top trit 0: q = (0*27 + 1*9 + 1*3 + 1) * 3 = 39
  const b = new Uint8Array(54);
  quantizeTq1_0(x, b);
  assert.equal(b[0], Math.ceil((202 * 256) / 243));
  assert.equal(b[1], Math.ceil((121 * 256) / 243)); // all-zero group: q = 121
  assert.equal(b[48], Math.ceil((39 * 256) / 243));
  const codes = new Uint8Array(256);
  unpackTernary(GgmlType.TQ1_0, b, codes);
  assert.deepEqual([codes[0], codes[240], codes[1]], [2, 0, 1]);
});

Deno.test("quantizeTq1_0() rounds |x|/d = 0.5 away from zero and gives d = 0 for zero blocks", () => {
  const x = new Float32Array(512);
  x.set([4, 2, -2]);
  const b = new Uint8Array(108);
  quantizeTq1_0(x, b);
  const codes = new Uint8Array(512);
  const scales = unpackTernary(GgmlType.TQ1_0, b, codes);
  assert.deepEqual([...codes.subarray(0, 4)], [2, 2, 0, 1]);
  assert.deepEqual([...scales], [4, 0]);
});

Deno.test("dequantizeTq1_0() decodes every byte value like ggml (bytes above 242 decode as trit patterns too)", () => {
  const b = new Uint8Array(54);
  b[53] = 0x3c; // d = 1
  const y = new Float32Array(256);
  for (let v = 0; v < 256; v++) {
    b[0] = v;
    dequantizeTq1_0(b, y);
    for (let n = 0; n < 5; n++) {
      const t = (((v * 3 ** n) & 0xff) * 3) >> 8; // ggml-quants.c:2441-2443
      assert.equal(y[n * 32], t - 1, `byte ${v} trit ${n}`);
    }
  }
});
