import assert from "node:assert/strict";
import { dequantizeBF16, dequantizeF16, dequantizeF32, quantizeBF16, quantizeF16, quantizeF32 } from "./float_rows.ts";
import { f32BitsToBf16Bits, f32BitsToF16Bits } from "./fp16.ts";
import { Rng } from "./_testing.ts";

function randomBits(n: number, seed: number): Uint32Array {
  const r = new Rng(seed);
  return new Uint32Array(n).map(() => r.u32());
}

Deno.test("F32 rows copy bits, NaN payloads included", () => {
  const u = randomBits(33, 1);
  u[0] = 0x7f800123;
  const bytes = new Uint8Array(133).subarray(1); // unaligned on purpose
  quantizeF32(new Float32Array(u.buffer), bytes);
  const back = new Float32Array(33);
  dequantizeF32(bytes, back);
  assert.deepEqual(new Uint32Array(back.buffer), u);
});

Deno.test("F16/BF16 rows write little-endian ggml conversions, at any byte offset", () => {
  const u = randomBits(65, 2);
  const x = new Float32Array(u.buffer);
  for (
    const [q, dq, conv] of [[quantizeF16, dequantizeF16, f32BitsToF16Bits], [
      quantizeBF16,
      dequantizeBF16,
      f32BitsToBf16Bits,
    ]] as const
  ) {
    for (const off of [0, 1]) {
      const bytes = new Uint8Array(131).subarray(off, off + 130);
      q(x, bytes);
      for (let i = 0; i < 65; i++) assert.equal(bytes[2 * i] | (bytes[2 * i + 1] << 8), conv(u[i]));
      const back = new Float32Array(65);
      dq(bytes, back);
      const again = new Uint8Array(130);
      q(back, again);
      assert.deepEqual(again, new Uint8Array(bytes));
    }
  }
});

Deno.test("float rows reject short buffers", () => {
  assert.throws(() => quantizeF32(new Float32Array(2), new Uint8Array(7)), RangeError);
  assert.throws(() => dequantizeF16(new Uint8Array(3), new Float32Array(2)), RangeError);
  assert.throws(() => quantizeBF16(new Float32Array(2), new Uint8Array(3)), RangeError);
});
