/**
 * The one table of tolerances of the kernel tests (every backend: kernels-wasm, webgpu). SIMD kernels are compared with their scalar twins
 * byte for byte (no tolerance); tolerances apply only where a test's reference formula computes in float64
 * where the kernel computes in f32 (or uses a libm), and each entry says why it is the size it is.
 *
 * @module
 */

/** Tolerances by test subject. */
export const TOLERANCES: {
  readonly attention: { readonly abs: number };
  readonly vExpf: { readonly ulps: number };
  readonly webgpu: {
    readonly matmulUlps: number;
    readonly normUlps: number;
    readonly opUlps: number;
    readonly attentionUlps: number;
  };
  readonly fastDot: { readonly rel: number };
  readonly fastAttention: { readonly rel: number };
  readonly fastExp: { readonly rel: number };
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
  // ---- WebGPU kernels vs the reference backend (engine/backends/webgpu/kernels_test.ts), same inputs ----
  webgpu: {
    /** Matmuls: integer lanes exact, ggml's float lanes and FMA kept; 0 measured on llvmpipe. */
    matmulUlps: 0,
    /** RMSNorm: the f64 sum of squares is a double-f32 sum rounded once; 0 measured. */
    normUlps: 0,
    /** RoPE: FMA native or emulated exactly. */
    opUlps: 0,
    /** Attention: softmax denominator as double-f32; 0 measured. */
    attentionUlps: 0,
  },
  /**
   * Fast profile, relaxed module vs the scalar twin: `fast.gemm.f16_f32` / `bf16_f32` with fused multiply-adds
   * (one rounding per step) against multiply-then-add (two). Both are sums of the same K terms in the same order,
   * each within `gamma_n * sum|w_i x_i|` of the exact sum, `gamma_n ~ n * 2^-24` with n = K/32 + 5 rounding
   * steps per chain and reduction (85 for K = 2560): 5e-6; the bound is on `sum|w_i x_i|` (computed in f64).
   */
  fastDot: { rel: 1e-5 },
  /**
   * `fast.attention`, relaxed vs twin, relative to max|v| (outputs are convex combinations of V rows): a score
   * error of `gamma_16 * sum|k_i q_i| * scale` (about 1e-5 for N(0,1) inputs, head_dim 128) changes each
   * probability by that relative amount; the polynomial exp adds a few ulp. 5e-5 leaves a 5x margin.
   */
  fastAttention: { rel: 5e-5 },
  /**
   * `fast.swiglu`, relaxed vs twin, relative to |g * u|: the exp polynomial's 7 multiply-adds fused or not differ
   * by a few ulp (2^-24 each) of exp(-x), and silu(x) = x / (1 + exp(-x)) passes that on at most 1:1.
   */
  fastExp: { rel: 2e-6 },
};
