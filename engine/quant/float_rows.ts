/**
 * The unquantized types as byte rows (F32, F16, BF16), with the same `quantize`/`dequantize` shape as the
 * block formats: f32 values in, little-endian bytes out, and back. F16/BF16 use ggml's conversions (`fp16.ts`).
 *
 * @module
 */

import { bf16ToF32Row, f16ToF32Row, f32ToBf16Row, f32ToF16Row } from "./fp16.ts";
import { checkLength } from "./_private.ts";

function asBytes(a: Float32Array, n: number): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, n * 4);
}

// A Uint16Array over `bytes` when it is 2-byte aligned, else a copy (or a scratch to copy back).
function u16Of(bytes: Uint8Array, n: number, copyIn: boolean): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  const t = new Uint16Array(n);
  if (copyIn) new Uint8Array(t.buffer).set(bytes.subarray(0, n * 2));
  return t;
}

/**
 * Copy f32 bytes into values (bit for bit, NaN payloads kept).
 *
 * @param src Little-endian f32 bytes, at least `4 * dst.length`.
 * @param dst Destination values.
 * @throws {RangeError} When `src` is too short.
 * @example
 * ```ts
 * import { dequantizeF32 } from "./float_rows.ts";
 * const out = new Float32Array(1);
 * dequantizeF32(new Uint8Array([0, 0, 0x80, 0x3f]), out);
 * console.log(out[0]); // 1
 * ```
 */
export function dequantizeF32(src: Uint8Array, dst: Float32Array): void {
  checkLength("dequantizeF32", "source bytes", src.length, dst.length * 4);
  asBytes(dst, dst.length).set(src.subarray(0, dst.length * 4));
}

/**
 * Copy values into f32 bytes (bit for bit).
 *
 * @param src Values.
 * @param dst Destination, at least `4 * src.length` bytes.
 * @throws {RangeError} When `dst` is too short.
 * @example
 * ```ts
 * import { quantizeF32 } from "./float_rows.ts";
 * const out = new Uint8Array(4);
 * quantizeF32(new Float32Array([1]), out);
 * console.log([...out]); // [0, 0, 128, 63]
 * ```
 */
export function quantizeF32(src: Float32Array, dst: Uint8Array): void {
  checkLength("quantizeF32", "destination bytes", dst.length, src.length * 4);
  dst.set(asBytes(src, src.length));
}

/**
 * F16 bytes to values (ggml `ggml_fp16_to_fp32_row`).
 *
 * @param src Little-endian f16 bytes, at least `2 * dst.length`.
 * @param dst Destination values.
 * @throws {RangeError} When `src` is too short.
 * @example
 * ```ts
 * import { dequantizeF16 } from "./float_rows.ts";
 * const out = new Float32Array(1);
 * dequantizeF16(new Uint8Array([0x00, 0xc0]), out);
 * console.log(out[0]); // -2
 * ```
 */
export function dequantizeF16(src: Uint8Array, dst: Float32Array): void {
  checkLength("dequantizeF16", "source bytes", src.length, dst.length * 2);
  f16ToF32Row(u16Of(src, dst.length, true), dst);
}

/**
 * Values to F16 bytes (ggml `ggml_fp32_to_fp16_row`: round to nearest even).
 *
 * @param src Values.
 * @param dst Destination, at least `2 * src.length` bytes.
 * @throws {RangeError} When `dst` is too short.
 * @example
 * ```ts
 * import { quantizeF16 } from "./float_rows.ts";
 * const out = new Uint8Array(2);
 * quantizeF16(new Float32Array([1]), out);
 * console.log([...out]); // [0, 60]
 * ```
 */
export function quantizeF16(src: Float32Array, dst: Uint8Array): void {
  checkLength("quantizeF16", "destination bytes", dst.length, src.length * 2);
  const h = u16Of(dst, src.length, false);
  f32ToF16Row(src, h);
  if (h.buffer !== dst.buffer) dst.set(new Uint8Array(h.buffer));
}

/**
 * BF16 bytes to values (ggml `ggml_bf16_to_fp32_row`).
 *
 * @param src Little-endian bf16 bytes, at least `2 * dst.length`.
 * @param dst Destination values.
 * @throws {RangeError} When `src` is too short.
 * @example
 * ```ts
 * import { dequantizeBF16 } from "./float_rows.ts";
 * const out = new Float32Array(1);
 * dequantizeBF16(new Uint8Array([0x80, 0x3f]), out);
 * console.log(out[0]); // 1
 * ```
 */
export function dequantizeBF16(src: Uint8Array, dst: Float32Array): void {
  checkLength("dequantizeBF16", "source bytes", src.length, dst.length * 2);
  bf16ToF32Row(u16Of(src, dst.length, true), dst);
}

/**
 * Values to BF16 bytes (ggml `ggml_fp32_to_bf16_row_ref`: round to nearest even, NaN made quiet).
 *
 * @param src Values.
 * @param dst Destination, at least `2 * src.length` bytes.
 * @throws {RangeError} When `dst` is too short.
 * @example
 * ```ts
 * import { quantizeBF16 } from "./float_rows.ts";
 * const out = new Uint8Array(2);
 * quantizeBF16(new Float32Array([1]), out);
 * console.log([...out]); // [128, 63]
 * ```
 */
export function quantizeBF16(src: Float32Array, dst: Uint8Array): void {
  checkLength("quantizeBF16", "destination bytes", dst.length, src.length * 2);
  const h = u16Of(dst, src.length, false);
  f32ToBf16Row(src, h);
  if (h.buffer !== dst.buffer) dst.set(new Uint8Array(h.buffer));
}
