/**
 * The one table of tolerances of the kernels-wasm tests. SIMD kernels are compared with their scalar twins
 * byte for byte (no tolerance); tolerances apply only where a test's reference formula computes in float64
 * where the kernel computes in f32 (or uses a libm), and each entry says why it is the size it is.
 *
 * @module
 */

/** Tolerances by test subject. */
export const TOLERANCES: {
  readonly attention: { readonly abs: number };
  readonly vExpf: { readonly ulps: number };
} = {
  /**
   * Attention outputs vs a float64 softmax-weighted sum: inputs are N(0,1), head_dim <= 128, <= 49 cache
   * rows; f32 dot products (relative error ~1e-6 of sum|q.k|), expf (<= 1 ulp) and f32 accumulation of
   * <= 49 weighted rows keep the absolute error below 1e-5 with margin.
   */
  attention: { abs: 1e-5 },
  /**
   * ggml's AVX-512 `ggml_v_expf` (vec.h: "maximum error is 1.45358 plus 0.5 ulps") against Math.exp rounded to
   * f32, on normal results (x in (-87, 88)).
   */
  vExpf: { ulps: 2 },
};
