import assert from "node:assert/strict";
import {
  bf16ToF32,
  bf16ToF32Row,
  f16BitsToF32Bits,
  f16ToF32,
  f16ToF32Row,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  f32ToBf16,
  f32ToBf16Row,
  f32ToF16,
  f32ToF16Row,
} from "./fp16.ts";
import { Rng } from "./_testing.ts";

// Independent oracle: round an f32 (exact in double) to the nearest f16 value by double arithmetic
// (ties to even with the 2^52 trick), then encode. Only finite inputs.
function oracleF16(bits: number): number {
  const f = new Float32Array(new Uint32Array([bits]).buffer)[0];
  const sign = bits >>> 31 ? 0x8000 : 0;
  const a = Math.abs(f);
  if (a === 0) return sign;
  const e = Math.max(-14, Math.floor(Math.log2(a)));
  // log2 may be off by one near powers of two: fix it so 2^e <= a < 2^(e+1) (or a < 2^-14).
  let ee = e;
  if (ee > -14 && 2 ** ee > a) ee--;
  if (2 ** (ee + 1) <= a) ee++;
  const ulp = 2 ** (Math.max(ee, -14) - 10);
  const q = a / ulp; // exact: a power-of-two division
  const r = (q + 2 ** 52) - 2 ** 52; // RNE (q < 2^52)
  const v = r * ulp;
  if (v >= 65536) return sign | 0x7c00;
  if (v < 2 ** -14) return sign | (v / 2 ** -24);
  const ve = Math.floor(Math.log2(v));
  const vexp = 2 ** ve > v ? ve - 1 : 2 ** (ve + 1) <= v ? ve + 1 : ve;
  return sign | ((vexp + 15) << 10) | (v / 2 ** vexp * 1024 - 1024);
}

Deno.test("f32BitsToF16Bits() rounds known values like IEEE round-to-nearest-even", () => {
  const cases: Array<[number, number]> = [
    [0x3f800000, 0x3c00], // 1
    [0xbf800000, 0xbc00], // -1
    [0x00000000, 0x0000],
    [0x80000000, 0x8000], // -0
    [0x477fe000, 0x7bff], // 65504, largest finite
    [0x477fefff, 0x7bff], // just below the midpoint to infinity
    [0x477ff000, 0x7c00], // 65520: tie between 65504 (odd) and 2^16 -> inf
    [0x7f7fffff, 0x7c00], // f32 max overflows
    [0x7f800000, 0x7c00], // inf
    [0xff800000, 0xfc00], // -inf
    [0x7fc00000, 0x7e00], // qNaN
    [0x7f800001, 0x7e00], // sNaN -> canonical quiet NaN
    [0xffc12345, 0xfe00], // negative NaN keeps its sign, drops its payload (ggml-impl.h:442)
    [0x33800000, 0x0001], // 2^-24, smallest subnormal
    [0x33000000, 0x0000], // 2^-25: tie between 0 and 2^-24 -> even (0)
    [0x33000001, 0x0001], // just above the tie
    [0x33c00000, 0x0002], // 1.5 * 2^-24: tie -> even (2)
    [0x38800000, 0x0400], // 2^-14, smallest normal
    [0x387fe000, 0x0400], // 2^-14 - 2^-25: tie between 0x3ff and 0x400 -> even (0x400)
    [0x3f801000, 0x3c00], // 1 + 2^-11: tie -> even (1)
    [0x3f803000, 0x3c02], // 1 + 3*2^-11: tie -> even (0x3c02)
    [0x00000001, 0x0000], // f32 subnormal underflows
  ];
  for (const [u, h] of cases) {
    assert.equal(f32BitsToF16Bits(u), h, `f32 0x${u.toString(16)}`);
  }
});

Deno.test("f32BitsToF16Bits() matches a double-arithmetic oracle around every f16 rounding boundary", () => {
  // For every positive finite f16 value h, probe the f32 values at and next to the midpoint to h+1.
  for (let h = 0; h < 0x7c00; h++) {
    const lo = f16BitsToF32Bits(h);
    const hi = h + 1 === 0x7c00 ? 0x47800000 : f16BitsToF32Bits(h + 1);
    const mid = lo + Math.floor((hi - lo) / 2); // the f32 midpoint is exactly representable
    for (const u of [lo, mid - 1, mid, mid + 1, hi - 1]) {
      for (const s of [0, 0x80000000]) {
        const bits = (u | s) >>> 0;
        assert.equal(f32BitsToF16Bits(bits), oracleF16(bits), `f32 0x${bits.toString(16)}`);
      }
    }
  }
});

Deno.test("f16BitsToF32Bits() is exact, and f16 -> f32 -> f16 is the identity except NaN payloads", () => {
  for (let h = 0; h < 65536; h++) {
    const u = f16BitsToF32Bits(h);
    const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNaN) {
      // Payload kept in the top mantissa bits, quiet bit set (x86 quiets a NaN multiplied in ggml-impl.h:410).
      assert.equal(u, ((h & 0x8000) << 16 | 0x7fc00000 | ((h & 0x3ff) << 13)) >>> 0);
      assert.equal(f32BitsToF16Bits(u), (h & 0x8000) | 0x7e00);
    } else {
      assert.equal(f32BitsToF16Bits(u), h, `h 0x${h.toString(16)}`);
    }
  }
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0x03ff), 1023 * 2 ** -24);
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.equal(f16ToF32(0xfc00), -Infinity);
  assert.ok(Object.is(f16ToF32(0x8000), -0));
});

Deno.test("f32ToF16Row() and f16ToF32Row() agree with the scalar functions bit for bit", () => {
  const r = new Rng(7);
  const n = 4099;
  const u = new Uint32Array(n);
  for (let i = 0; i < n; i++) u[i] = r.u32();
  u.set([0x7f800001, 0xffc00001, 0x7f800000, 0x33000000, 0x477ff000, 0x80000000], 0);
  const f = new Float32Array(u.buffer);
  const h = new Uint16Array(n);
  f32ToF16Row(f, h);
  for (let i = 0; i < n; i++) assert.equal(h[i], f32BitsToF16Bits(u[i]));
  const back = new Float32Array(n);
  f16ToF32Row(h, back);
  const bu = new Uint32Array(back.buffer);
  for (let i = 0; i < n; i++) assert.equal(bu[i], f16BitsToF32Bits(h[i]));
});

Deno.test("f32ToF16() and f32ToBf16() round a JS number to f32 first", () => {
  assert.equal(f32ToF16(1 / 3), 0x3555);
  assert.equal(f32ToF16(-2), 0xc000);
  assert.equal(f32ToBf16(1), 0x3f80);
  assert.equal(f32ToBf16(Math.PI), 0x4049);
  assert.equal(bf16ToF32(0x4049), 3.140625);
});

Deno.test("f32BitsToBf16Bits() rounds to nearest even and quiets NaN like ggml_compute_fp32_to_bf16", () => {
  const cases: Array<[number, number]> = [
    [0x3f800000, 0x3f80],
    [0x3f808000, 0x3f80], // tie, even stays
    [0x3f818000, 0x3f82], // tie, odd rounds up
    [0x3f808001, 0x3f81],
    [0x3f807fff, 0x3f80],
    [0x7f7fffff, 0x7f80], // rounds up to inf
    [0x7f800000, 0x7f80],
    [0xff800000, 0xff80],
    [0x7f800001, 0x7fc0], // sNaN: truncated, quiet bit forced (| 64)
    [0xffa12345, 0xffe1],
    [0x7fc00000, 0x7fc0],
    [0x00008000, 0x0000], // subnormal tie -> even (kept, not flushed)
    [0x00018000, 0x0002],
    [0x80000000, 0x8000],
  ];
  for (const [u, h] of cases) assert.equal(f32BitsToBf16Bits(u), h, `f32 0x${u.toString(16)}`);
});

Deno.test("f32ToBf16Row() and bf16ToF32Row() agree with the scalar functions; bf16 -> f32 -> bf16 is the identity", () => {
  const r = new Rng(11);
  const n = 2053;
  const u = new Uint32Array(n);
  for (let i = 0; i < n; i++) u[i] = r.u32();
  const h = new Uint16Array(n);
  f32ToBf16Row(new Float32Array(u.buffer), h);
  for (let i = 0; i < n; i++) assert.equal(h[i], f32BitsToBf16Bits(u[i]));
  const all = new Uint16Array(65536).map((_, i) => i);
  const f = new Float32Array(65536);
  bf16ToF32Row(all, f);
  const fu = new Uint32Array(f.buffer);
  const again = new Uint16Array(65536);
  f32ToBf16Row(f, again);
  for (let i = 0; i < 65536; i++) {
    assert.equal(fu[i], (i << 16) >>> 0);
    const isNaN = (i & 0x7f80) === 0x7f80 && (i & 0x7f) !== 0;
    assert.equal(again[i], isNaN ? i | 64 : i);
  }
});

Deno.test("row conversions reject a destination shorter than the source", () => {
  assert.throws(() => f32ToF16Row(new Float32Array(4), new Uint16Array(3)), RangeError);
  assert.throws(() => f16ToF32Row(new Uint16Array(4), new Float32Array(3)), RangeError);
  assert.throws(() => f32ToBf16Row(new Float32Array(4), new Uint16Array(3)), /destination holds only 3/);
  assert.throws(() => bf16ToF32Row(new Uint16Array(4), new Float32Array(3)), RangeError);
});
