/**
 * IEEE half (f16) and bfloat16 (bf16) conversions, bit-exact with ggml's reference code in `libggml-base`
 * (`ggml/src/ggml-impl.h`, llama.cpp v0.5.0):
 *
 * - f32 -> f16: `ggml_compute_fp32_to_fp16` (ggml-impl.h:419-443, after Maratyszcza/FP16): round to nearest,
 *   ties to even, gradual underflow into f16 subnormals, overflow to infinity, and every NaN becomes the quiet
 *   NaN `sign | 0x7e00`. Non-NaN results are identical to x86 F16C `vcvtps2ph` (what `ggml_cpu_fp32_to_fp16`
 *   uses on activations in blocks of 4/8/16, ggml-cpu.c:3488-3507); only NaNs differ: F16C keeps their top payload
 *   bits, and its scalar tail canonicalises like ggml-base (both checked in tests/quant_ggml_test.ts).
 * - f16 -> f32: `ggml_compute_fp16_to_fp32` (ggml-impl.h:396-417): exact; an f16 NaN keeps its payload and comes
 *   out quiet (the C code multiplies the NaN by 2^-112, which sets the quiet bit on x86).
 * - f32 -> bf16: `ggml_compute_fp32_to_bf16` (ggml-impl.h:623-634): NaN -> `(bits >> 16) | 64` (forced quiet),
 *   otherwise round to nearest even on the top 16 bits. Subnormals are kept (the AVX512-BF16 path of
 *   `ggml_fp32_to_bf16_row` flushes them; the `_ref` row function and this module do not).
 * - bf16 -> f32: `bits << 16`, exact.
 *
 * Row functions work on bit patterns through Uint32/Uint16 views, so NaN signs and payloads survive (a JS number
 * read from a Float32Array may not keep them).
 *
 * @module
 */

// Scalar scratch: a number goes through an f32 slot to get its bit pattern.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/**
 * f32 bit pattern -> f16 bit pattern, round to nearest even (ggml `ggml_compute_fp32_to_fp16`).
 *
 * @param u f32 bits as an unsigned 32-bit integer.
 * @returns f16 bits (0..0xffff).
 * @example
 * ```ts
 * import { f32BitsToF16Bits } from "./fp16.ts";
 * console.log(f32BitsToF16Bits(0x3f800000).toString(16)); // "3c00" (1.0)
 * ```
 */
export function f32BitsToF16Bits(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a >= 0x38800000) {
    // |x| >= 2^-14: an f16 normal, or overflow. 0x477ff000 = 65520 is the midpoint between the largest f16
    // (65504, odd mantissa) and 2^16, so it and everything above rounds to infinity; NaN -> 0x7e00.
    if (a >= 0x477ff000) return sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00);
    // Rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to even; a carry out of the
    // mantissa correctly bumps the exponent.
    return sign | ((a - 0x38000000 + 0x0fff + ((a >>> 13) & 1)) >>> 13);
  }
  // |x| < 2^-14: the result is an f16 subnormal m * 2^-24 (or the smallest normal, 0x0400, after a carry).
  // 0x33000000 = 2^-25 is the midpoint between 0 and the smallest subnormal: it ties to 0.
  if (a <= 0x33000000) return sign;
  const e = a >>> 23; // biased f32 exponent, 102..112 here
  const m = (a & 0x7fffff) | 0x800000; // mantissa with the implicit bit
  const shift = 126 - e; // value * 2^24 = m * 2^(e - 126); shift in 14..24
  let q = m >>> shift;
  const rem = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (q & 1) === 1)) q++;
  return sign | q;
}

/**
 * f16 bit pattern -> f32 bit pattern, exact (ggml `ggml_compute_fp16_to_fp32`; NaN payload kept, made quiet).
 *
 * @param h f16 bits (0..0xffff).
 * @returns f32 bits as an unsigned 32-bit integer.
 * @example
 * ```ts
 * import { f16BitsToF32Bits } from "./fp16.ts";
 * console.log(f16BitsToF32Bits(0x3c00).toString(16)); // "3f800000"
 * ```
 */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) {
    // Inf stays inf; NaN keeps its 10 payload bits and gets the f32 quiet bit.
    return (sign | 0x7f800000 | (m << 13) | (m !== 0 ? 0x400000 : 0)) >>> 0;
  }
  if (e !== 0) return (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
  if (m === 0) return sign >>> 0;
  // Subnormal m * 2^-24: normalise. The leading one of m is at bit p (0..9); value = 2^(p-24) * (1.frac).
  const p = 31 - Math.clz32(m);
  return (sign | ((p - 24 + 127) << 23) | ((m << (23 - p)) & 0x7fffff)) >>> 0;
}

/**
 * f32 bit pattern -> bf16 bit pattern (ggml `ggml_compute_fp32_to_bf16`).
 *
 * @param u f32 bits as an unsigned 32-bit integer.
 * @returns bf16 bits (0..0xffff).
 * @example
 * ```ts
 * import { f32BitsToBf16Bits } from "./fp16.ts";
 * console.log(f32BitsToBf16Bits(0x3f808000).toString(16)); // "3f80" (tie, rounds to even)
 * ```
 */
export function f32BitsToBf16Bits(u: number): number {
  // NaN: truncate and force the quiet bit (bit 6 of the bf16 mantissa), as ggml-impl.h:628-631.
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 64;
  // Finite or inf: add 0x7fff plus the lowest kept bit, then truncate (round half to even). For u <= 0xff800000
  // the sum stays below 2^32, so `>>> 16` does not wrap.
  return ((u >>> 0) + 0x7fff + ((u >>> 16) & 1)) >>> 16;
}

/**
 * f32 -> f16 bits for one number (the number is first rounded to f32).
 *
 * @param x Value.
 * @returns f16 bits.
 * @example
 * ```ts
 * import { f32ToF16 } from "./fp16.ts";
 * console.log(f32ToF16(65504)); // 31743 (0x7bff, the largest finite f16)
 * ```
 */
export function f32ToF16(x: number): number {
  scratchF32[0] = x;
  return f32BitsToF16Bits(scratchU32[0]);
}

/**
 * f16 bits -> value.
 *
 * @param h f16 bits (0..0xffff).
 * @returns The exact value as a number.
 * @example
 * ```ts
 * import { f16ToF32 } from "./fp16.ts";
 * console.log(f16ToF32(0x3555)); // 0.333251953125
 * ```
 */
export function f16ToF32(h: number): number {
  scratchU32[0] = F16_TO_F32[h & 0xffff];
  return scratchF32[0];
}

/**
 * f32 -> bf16 bits for one number (the number is first rounded to f32).
 *
 * @param x Value.
 * @returns bf16 bits.
 * @example
 * ```ts
 * import { f32ToBf16 } from "./fp16.ts";
 * console.log(f32ToBf16(1).toString(16)); // "3f80"
 * ```
 */
export function f32ToBf16(x: number): number {
  scratchF32[0] = x;
  return f32BitsToBf16Bits(scratchU32[0]);
}

/**
 * bf16 bits -> value.
 *
 * @param h bf16 bits (0..0xffff).
 * @returns The exact value as a number.
 * @example
 * ```ts
 * import { bf16ToF32 } from "./fp16.ts";
 * console.log(bf16ToF32(0x3f80)); // 1
 * ```
 */
export function bf16ToF32(h: number): number {
  scratchU32[0] = (h & 0xffff) << 16;
  return scratchF32[0];
}

// All 65536 f16 -> f32 results as bit patterns (256 KiB): a row conversion is one table load per element.
const F16_TO_F32: Uint32Array = (() => {
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = f16BitsToF32Bits(h);
  return t;
})();

function u32View(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function checkRow(fn: string, srcLen: number, dstLen: number): void {
  if (dstLen < srcLen) {
    throw new RangeError(
      `${fn}() cannot convert ${srcLen} values: the destination holds only ${dstLen}. ` +
        `Pass a destination at least as long as the source.`,
    );
  }
}

/**
 * Convert a row of f32 to f16 bits (ggml `ggml_fp32_to_fp16_row`).
 *
 * @param src Source values.
 * @param dst Destination f16 bits; `src.length` of them are written.
 * @throws {RangeError} When `dst` is shorter than `src`.
 * @example
 * ```ts
 * import { f32ToF16Row } from "./fp16.ts";
 * const out = new Uint16Array(2);
 * f32ToF16Row(new Float32Array([1, -2]), out);
 * console.log([...out].map((h) => h.toString(16))); // ["3c00", "c000"]
 * ```
 */
export function f32ToF16Row(src: Float32Array, dst: Uint16Array): void {
  checkRow("f32ToF16Row", src.length, dst.length);
  const u = u32View(src);
  const n = u.length;
  for (let i = 0; i < n; i++) {
    const x = u[i];
    const a = x & 0x7fffffff;
    // The common case (normal f16 range) inline; everything else through the scalar routine.
    if (a >= 0x38800000 && a < 0x477ff000) {
      dst[i] = ((x >>> 16) & 0x8000) | ((a - 0x38000000 + 0x0fff + ((a >>> 13) & 1)) >>> 13);
    } else {
      dst[i] = f32BitsToF16Bits(x);
    }
  }
}

/**
 * Convert a row of f16 bits to f32 (ggml `ggml_fp16_to_fp32_row`), through a 65536-entry table.
 *
 * @param src Source f16 bits.
 * @param dst Destination values; `src.length` of them are written.
 * @throws {RangeError} When `dst` is shorter than `src`.
 * @example
 * ```ts
 * import { f16ToF32Row } from "./fp16.ts";
 * const out = new Float32Array(2);
 * f16ToF32Row(new Uint16Array([0x3c00, 0xc000]), out);
 * console.log([...out]); // [1, -2]
 * ```
 */
export function f16ToF32Row(src: Uint16Array, dst: Float32Array): void {
  checkRow("f16ToF32Row", src.length, dst.length);
  const d = u32View(dst);
  const t = F16_TO_F32;
  const n = src.length;
  for (let i = 0; i < n; i++) d[i] = t[src[i]];
}

/**
 * Convert a row of f32 to bf16 bits (ggml `ggml_fp32_to_bf16_row_ref`).
 *
 * @param src Source values.
 * @param dst Destination bf16 bits; `src.length` of them are written.
 * @throws {RangeError} When `dst` is shorter than `src`.
 * @example
 * ```ts
 * import { f32ToBf16Row } from "./fp16.ts";
 * const out = new Uint16Array(1);
 * f32ToBf16Row(new Float32Array([-1]), out);
 * console.log(out[0].toString(16)); // "bf80"
 * ```
 */
export function f32ToBf16Row(src: Float32Array, dst: Uint16Array): void {
  checkRow("f32ToBf16Row", src.length, dst.length);
  const u = u32View(src);
  const n = u.length;
  for (let i = 0; i < n; i++) {
    const x = u[i];
    dst[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 64 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
}

/**
 * Convert a row of bf16 bits to f32 (ggml `ggml_bf16_to_fp32_row`).
 *
 * @param src Source bf16 bits.
 * @param dst Destination values; `src.length` of them are written.
 * @throws {RangeError} When `dst` is shorter than `src`.
 * @example
 * ```ts
 * import { bf16ToF32Row } from "./fp16.ts";
 * const out = new Float32Array(1);
 * bf16ToF32Row(new Uint16Array([0x4049]), out);
 * console.log(out[0]); // 3.140625
 * ```
 */
export function bf16ToF32Row(src: Uint16Array, dst: Float32Array): void {
  checkRow("bf16ToF32Row", src.length, dst.length);
  const d = u32View(dst);
  const n = src.length;
  for (let i = 0; i < n; i++) d[i] = src[i] << 16;
}
