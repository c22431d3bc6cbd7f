/**
 * Float arithmetic in the exact order of llama.cpp's x86 CPU backend (the AVX-512 builds the pinned library loads
 * on this project's machines: `zen4`, `sapphirerapids`, `icelake`), so that the reference backend reproduces its
 * results bit for bit instead of to ~1e-6. Bit-exactness matters because activations are re-quantized to int8
 * before every ternary matmul: a 1-ulp difference that moves a value across a rounding boundary changes an int8
 * code, and in a random synthetic model that difference can grow to a different greedy token.
 *
 * Sources (llama.cpp v0.5.0, `ggml/src/ggml-cpu/`): `vec.cpp` `ggml_vec_dot_f32` (4 x 16-lane FMA accumulators),
 * `simd-mappings.h` `GGML_F32x16_REDUCE`, GCC's `_mm512_reduce_add_ps` tree, `vec.h` `ggml_v_expf` / `ggml_v_silu`
 * (AVX-512), `vec.cpp` `ggml_vec_soft_max_f32`, `llamafile/sgemm.cpp` `tinyBLAS` (one 16-lane FMA accumulator,
 * used for batched f32 matmuls), `arch/x86/quants.c` (TQ x Q8_K with 8 float lanes). GCC contracts `a * b + c` in
 * intrinsics code into FMA; an f32 FMA is emulated as `fround(a * b + c)` in double (the product is exact; the
 * sum can round twice in ~2^-29 of cases).
 *
 * @module
 */

const fr = Math.fround;

/** f32 fused multiply-add `a * b + c`, one rounding (see module note). */
export function fma32(a: number, b: number, c: number): number {
  return fr(a * b + c);
}

/** GCC's `_mm512_reduce_add_ps`: halves 8+8, then 4+4, then (0+2, 1+3), then lane 0 + lane 1. */
export function reduce16(v: Float32Array | number[], o = 0): number {
  const t3 = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 8; i++) t3[i] = fr(v[o + 8 + i] + v[o + i]);
  const t6 = [fr(t3[4] + t3[0]), fr(t3[5] + t3[1]), fr(t3[6] + t3[2]), fr(t3[7] + t3[3])];
  return fr(fr(t6[0] + t6[2]) + fr(t6[1] + t6[3]));
}

/**
 * `ggml_vec_dot_f32`'s reduction of its 4 x 16-lane accumulators (`acc[0..64)`): `(a0 + a2) + (a1 + a3)` per lane
 * (written back into `acc[0..16)`), then {@link reduce16}.
 */
function reduce64(acc: Float32Array): number {
  for (let l = 0; l < 16; l++) acc[l] = fr(fr(acc[l] + acc[32 + l]) + fr(acc[16 + l] + acc[48 + l]));
  return reduce16(acc);
}

/** AVX2 `hsum_float_8` (arch/x86/quants.c): ((x4+x0)+(x6+x2)) + ((x5+x1)+(x7+x3)). */
export function hsum8(x: Float32Array | number[]): number {
  return fr(fr(fr(x[4] + x[0]) + fr(x[6] + x[2])) + fr(fr(x[5] + x[1]) + fr(x[7] + x[3])));
}

/**
 * `ggml_vec_dot_f32` on AVX-512: `floor(n/64)` steps of four 16-lane FMA accumulators, reduced
 * (0+2, 1+3, 0+1, then 16 lanes), then the tail added one product at a time (GCC does not fuse that loop).
 *
 * @param n Length.
 * @param x First operand (array and offset).
 * @param xo Offset of x.
 * @param xs Stride of x (1 for contiguous).
 * @param y Second operand.
 * @param yo Offset of y.
 * @param ys Stride of y.
 * @param acc Scratch of 64 floats.
 * @returns The f32 dot product.
 */
export function vecDotF32(
  n: number,
  x: Float32Array,
  xo: number,
  xs: number,
  y: Float32Array,
  yo: number,
  ys: number,
  acc: Float32Array,
): number {
  const np = n & ~63;
  chainLanes(64, np, x, xo, xs, y, yo, ys, acc);
  let sum = reduce64(acc);
  for (let i = np; i < n; i++) sum = fr(fr(x[xo + i * xs] * y[yo + i * ys]) + sum);
  return sum;
}

/**
 * tinyBLAS (llamafile sgemm, AVX-512, KN = 16) for one output: lane `l` chains FMAs over `i = l, l+16, ...`, then
 * `_mm512_reduce_add_ps`. ggml uses it for f32/f16 matmuls with at least two columns when K % 16 == 0. Elements
 * past `n` count as zeros (a zero-padded K).
 *
 * @returns The f32 dot product.
 */
export function tinyBlasDotF32(
  n: number,
  x: Float32Array,
  xo: number,
  xs: number,
  y: Float32Array,
  yo: number,
  ys: number,
  acc: Float32Array,
): number {
  chainLanes(16, n, x, xo, xs, y, yo, ys, acc);
  return reduce16(acc);
}

/**
 * `ggml_vec_dot_f32` over a K that ggml pads to a multiple of 64 with zeros (the KV length `n_kv`): only the
 * 4 x 16-lane part runs; elements past `n` count as zeros.
 *
 * @returns The f32 dot product.
 */
export function vecDotF32Padded(
  n: number,
  x: Float32Array,
  xo: number,
  xs: number,
  y: Float32Array,
  yo: number,
  ys: number,
  acc: Float32Array,
): number {
  chainLanes(64, n, x, xo, xs, y, yo, ys, acc);
  return reduce64(acc);
}

/**
 * `lanes` FMA chains into `acc[0..lanes)`: lane `l` accumulates `x[i] * y[i]` over `i = l, l + lanes, ...` below
 * `end`, starting from zero (the register accumulators of ggml's and tinyBLAS's loops).
 */
function chainLanes(
  lanes: number,
  end: number,
  x: Float32Array,
  xo: number,
  xs: number,
  y: Float32Array,
  yo: number,
  ys: number,
  acc: Float32Array,
): void {
  acc.fill(0, 0, lanes);
  for (let i = 0; i < end; i += lanes) {
    const m = Math.min(lanes, end - i);
    for (let l = 0; l < m; l++) acc[l] = fr(x[xo + (i + l) * xs] * y[yo + (i + l) * ys] + acc[l]);
  }
}

// ggml_v_expf (vec.h, AVX-512): Arm optimized-routines' expf polynomial in f32 with FMAs.
// Hex-float constants of vec.h, written as integer * power of two (JS has no hex-float literals).
const R = 0x18 * 2 ** 19; // 0x1.8p23
const LOG2E = 0x1715476 * 2 ** -24; // 0x1.715476p+0
const LN2_HI = 0x162e4 * 2 ** -17; // 0x1.62e4p-1
const LN2_LO = 0x17f7d1c * 2 ** -44; // 0x1.7f7d1cp-20
const C5 = 0x10e4020 * 2 ** -31; // 0x1.0e4020p-7
const C4 = 0x1573e2e * 2 ** -29; // 0x1.573e2ep-5
const C3 = 0x1555e66 * 2 ** -27; // 0x1.555e66p-3
const C2 = 0x1fffdb6 * 2 ** -26; // 0x1.fffdb6p-2
const C1 = 0x1ffffec * 2 ** -25; // 0x1.ffffecp-1

/**
 * One lane of ggml's AVX-512 `ggml_v_expf`.
 *
 * @param x An f32 value.
 * @returns The f32 approximation of e^x that ggml computes (0 below about -104, inf above about 88.4).
 */
export function vExpf(x: number): number {
  const z = fma32(x, LOG2E, R);
  const n = fr(z - R);
  const b = fma32(-n, LN2_LO, fma32(-n, LN2_HI, x));
  if (Math.abs(n) > 192) return n <= 0 ? 0 : Infinity;
  if (n !== n) return NaN;
  const u = fr(b * b);
  const j = fma32(fma32(fma32(C5, b, C4), u, fma32(C3, b, C2)), u, fma32(C1, b, 1));
  // _mm512_scalef_ps(j, n): j * 2^n rounded once (n is an integer here).
  return fr(j * 2 ** n);
}

/** One lane of ggml's AVX-512 `ggml_v_silu`: `x / (1 + v_expf(0 - x))`. */
export function vSilu(x: number): number {
  return fr(x / fr(1 + vExpf(fr(0 - x))));
}
