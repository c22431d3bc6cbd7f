/**
 * Quant formats bit-exact with ggml: f16/bf16 conversion, the format table (reference quantize/dequantize per
 * GGML type id), fast ternary packers, and the activation quantizers the reference backend calls.
 *
 * @module
 */
export * from "./ggml_type.ts";
export {
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
export { I2S_TAIL_BYTES, packI2S, packTq1_0, packTq2_0, unpackTernary } from "./ternary.ts";
export { dequantizeTq2_0, quantizeTq2_0, TQ2_0_BLOCK_BYTES } from "./tq2_0.ts";
export { dequantizeTq1_0, quantizeTq1_0, TQ1_0_BLOCK_BYTES } from "./tq1_0.ts";
export { dequantizeI2S, QK_I2_S, quantizeI2S } from "./i2_s.ts";
export {
  I2S_PACKINGS,
  type I2SPacking,
  type I2SPackingEvidence,
  i2sRowDispersion,
  type I2SShape,
  packI2SCodes,
  parseI2SPacking,
  unpackI2SCodes,
} from "./i2_s_packing.ts";
export { dequantizeQ8_0, Q8_0_BLOCK_BYTES, QK8_0, quantizeQ8_0, quantizeRowQ8_0 } from "./q8_0.ts";
export { dequantizeQ6K, Q6_K_BLOCK_BYTES, quantizeQ6K } from "./q6_k.ts";
export { dequantizeQ8K, Q8_K_BLOCK_BYTES, quantizeQ8K } from "./q8_k.ts";
export { dequantizeBF16, dequantizeF16, dequantizeF32, quantizeBF16, quantizeF16, quantizeF32 } from "./float_rows.ts";
export { QUANT_FORMATS, type QuantFormat, quantFormat } from "./formats.ts";
export { quantizeRowI8S, type QuantizeRowI8SOptions, quantizeRowQ8K } from "./activations.ts";
