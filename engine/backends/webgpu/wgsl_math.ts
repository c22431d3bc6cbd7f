/**
 * The WGSL prelude every WebGPU kernel starts with: the parameter block, byte access into `array<u32>` bindings,
 * and float arithmetic that gives the same bits as the reference backend (`engine/backends/ref.ts`, llama.cpp's x86
 * order) on any adapter, although WGSL promises less than IEEE-754:
 *
 * - `x / y` and `sqrt` are only accurate to 2.5 ulp in WGSL (spec section "Floating Point Accuracy"), so
 *   {@link WGSL_MATH} computes them correctly rounded with integer long division (`div_rn`, `sqrt_rn`);
 * - `fma` is "inherited from `x * y + z`": it may or may not fuse. Mesa llvmpipe does not (measured, see
 *   `device.ts` `probeFusedFma`), so the device probes it and kernels use either the native `fma` or an exact
 *   emulation (`fma_x`: Dekker's product, Knuth's two-sum and Boldo-Melquiond round-to-odd, "Emulation of FMA and
 *   correctly rounded sums: proved algorithms using rounding to odd", IEEE TC 2008) — what ggml's AVX2/AVX-512 code
 *   computes with `vfmadd`;
 * - a compiler may contract `a * b + c` into an FMA where ggml rounds the product first; `rb()` (a rounding barrier:
 *   OR with a uniform that is always 0) keeps such products rounded;
 * - WGSL has no f64: ggml's f64 sums (RMSNorm's sum of squares, the softmax denominator) are kept as an unevaluated
 *   sum of two f32 (`hi + lo`, about 48 bits), and the one division of that sum is rounded correctly from both
 *   parts. The result equals ggml's f64 arithmetic unless the f64 sum itself lies within about 2^-42 (relative) of an
 *   f32 rounding boundary (about 2^-18 of the rows).
 * - WGSL lets an implementation assume no infinities or NaNs at runtime; the kernels never compute with them on
 *   finite inputs (the `v_expf` overflow is a branch), and the tests use finite inputs.
 *
 * Subnormal f32 values are handled by the integer routines; whether the adapter flushes them in plain arithmetic
 * is up to it (llvmpipe keeps them).
 *
 * @module
 */

/** Parameter slots of the uniform block shared by every kernel. */
export const SLOT = {
  /** Slots 0..7: byte offset of each bound region inside its binding. */
  region: 0,
  /** Always 0: the operand of the rounding barrier `rb()`. */
  zero: 8,
  /** Number of workgroups of the linear (x, z) grid; groups past it return. */
  groups: 9,
  /** First kernel argument slot. */
  args: 10,
} as const;

/** Slots in the parameter block (`array<vec4<u32>, 8>`). */
export const PARAM_SLOTS = 32;

/** Options that pick a variant of the prelude. */
export interface WgslMathOptions {
  /** The adapter's `fma` is a fused multiply-add (probed): use it; otherwise emulate it exactly. */
  readonly fusedFma: boolean;
  /** The adapter supports `dot4I8Packed` (WGSL language feature `packed_4x8_integer_dot_product`). */
  readonly dot4: boolean;
}

/** Uniform block, slot accessors and the rounding barrier. */
const PARAMS = /* wgsl */ `
struct Params { v: array<vec4<u32>, 8> }
@group(1) @binding(0) var<uniform> P: Params;
fn pu(i: u32) -> u32 { return P.v[i >> 2u][i & 3u]; }
fn pf(i: u32) -> f32 { return bitcast<f32>(pu(i)); }
fn pi(i: u32) -> i32 { return bitcast<i32>(pu(i)); }
// Rounding barrier: the compiler cannot prove the OR is a no-op, so x is a rounded f32 before it is used.
fn rb(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) | pu(${SLOT.zero}u)); }
// Linear workgroup index of a grid folded over x and z (x is at most 65535).
fn group_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.z * nwg.x; }
`;

/** f16/bf16 conversions by bits (ggml's `fp32_to_fp16` / `fp16_to_fp32`, exact for every pattern). */
const HALF = /* wgsl */ `
// Branch-free (a divergent branch costs every lane on SIMD hardware and on llvmpipe): normal values by rebiasing,
// subnormals as m * 2^-24 (exact: m < 2^10 and the product is an f32 normal), inf/NaN keeping the payload.
fn f16_to_f32(h: u32) -> f32 {
  let s = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  let normal = s | ((e + 112u) << 23u) | (m << 13u);
  let sub = s | bitcast<u32>(f32(m) * 5.9604644775390625e-8);
  let special = s | 0x7f800000u | (m << 13u) | select(0u, 0x400000u, m != 0u);
  return bitcast<f32>(select(select(normal, sub, e == 0u), special, e == 0x1fu));
}
fn f32_to_f16(u: u32) -> u32 {
  let sign = (u >> 16u) & 0x8000u;
  let a = u & 0x7fffffffu;
  if (a >= 0x38800000u) {
    if (a >= 0x477ff000u) { return sign | select(0x7c00u, 0x7e00u, a > 0x7f800000u); }
    return sign | ((a - 0x38000000u + 0x0fffu + ((a >> 13u) & 1u)) >> 13u);
  }
  if (a <= 0x33000000u) { return sign; }
  let shift = 126u - (a >> 23u);
  let m = (a & 0x7fffffu) | 0x800000u;
  var q = m >> shift;
  let rem = m & ((1u << shift) - 1u);
  let half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (q & 1u) == 1u)) { q += 1u; }
  return sign | q;
}
fn bf16_to_f32(h: u32) -> f32 { return bitcast<f32>(h << 16u); }
fn f32_to_bf16(u: u32) -> u32 {
  if ((u & 0x7fffffffu) > 0x7f800000u) { return (u >> 16u) | 64u; }
  return (u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u;
}
// Sign-extended byte i (0..3) of a word.
fn sbyte(w: u32, i: u32) -> i32 { return bitcast<i32>(w << (24u - 8u * i)) >> 24u; }
// ggml's nearest_int (ggml-quants.c): the 1.5 * 2^23 bit trick, round half to even for |x| < 2^22.
fn nearest_int(x: f32) -> i32 {
  let f = rb(x) + 12582912.0;
  return i32(bitcast<u32>(f) & 0x7fffffu) - 0x400000;
}
// i32 -> f32 rounded to nearest even (the WGSL conversion may round either way beyond 2^24).
fn i32_to_f32_rn(v: i32) -> f32 {
  let a = u32(abs(v));
  if (a <= 0x1000000u) { return f32(v); }
  let lz = countLeadingZeros(a);
  let sh = 8u - lz;
  var m = a >> sh;
  let rem = a & ((1u << sh) - 1u);
  let half = 1u << (sh - 1u);
  if (rem > half || (rem == half && (m & 1u) == 1u)) { m += 1u; }
  let e = 150u + sh;
  let bits = (e << 23u) + (m - 0x800000u);
  return bitcast<f32>(bits | select(0u, 0x80000000u, v < 0));
}
`;

/** Correctly rounded division and square root of finite f32 by integer arithmetic. */
const ROUNDED = /* wgsl */ `
// Mantissa with the implicit bit and unbiased-by-150 exponent of a finite non-zero f32 (subnormals normalised).
fn unpack_f32(u: u32) -> vec2<i32> {
  var e = i32((u >> 23u) & 0xffu);
  var m = u & 0x7fffffu;
  if (e == 0) {
    let s = countLeadingZeros(m) - 8u;
    m = m << s;
    e = 1 - i32(s);
  } else {
    m = m | 0x800000u;
  }
  return vec2<i32>(i32(m), e);
}
// Round m * 2^(e - 150) (m in [2^24, 2^25): 24 bits and a guard bit; sticky = bits below) to an f32 with the sign.
fn round_pack(sign: u32, m25: u32, e: i32, sticky: bool) -> f32 {
  if (e <= 0) {
    // Subnormal: the field is m25 >> (2 - e), guard bit (1 - e), sticky below.
    let t = u32(2 - e);
    if (t >= 26u) { return bitcast<f32>(sign); }
    let field = m25 >> t;
    let g = (m25 >> (t - 1u)) & 1u;
    let st = sticky || (m25 & ((1u << (t - 1u)) - 1u)) != 0u;
    let up = g == 1u && (st || (field & 1u) == 1u);
    return bitcast<f32>(sign | (field + select(0u, 1u, up)));
  }
  var m = m25 >> 1u;
  var ee = e;
  if ((m25 & 1u) == 1u && (sticky || (m & 1u) == 1u)) { m += 1u; }
  if (m == 0x1000000u) { m = 0x800000u; ee += 1; }
  if (ee >= 255) { return bitcast<f32>(sign | 0x7f800000u); }
  return bitcast<f32>(sign | (u32(ee) << 23u) | (m & 0x7fffffu));
}
// a / b rounded to nearest even, for finite a and b (b == 0 gives a signed infinity).
fn div_rn(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  let sign = (ua ^ ub) & 0x80000000u;
  if ((ua & 0x7fffffffu) == 0u) { return bitcast<f32>(sign); }
  if ((ub & 0x7fffffffu) == 0u) { return bitcast<f32>(sign | 0x7f800000u); }
  let pa = unpack_f32(ua);
  let pb = unpack_f32(ub);
  var ma = u32(pa.x);
  let mb = u32(pb.x);
  var e = pa.y - pb.y + 127;
  if (ma < mb) { ma = ma << 1u; e -= 1; }
  // ma / mb in [1, 2): 25 quotient bits (24 and a guard bit) by restoring division; r < 2 mb < 2^25 throughout.
  var r = ma;
  var q = 0u;
  for (var i = 0u; i < 25u; i++) {
    q = q << 1u;
    if (r >= mb) { r -= mb; q |= 1u; }
    r = r << 1u;
  }
  return round_pack(sign, q, e, r != 0u);
}
// sqrt(x) rounded to nearest even, for finite x >= 0.
fn sqrt_rn(x: f32) -> f32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7fffffffu) == 0u) { return x; }
  let p = unpack_f32(u);
  var m = u32(p.x);
  var e = p.y - 127; // x = (m / 2^23) * 2^e
  if ((e & 1) != 0) { m = m << 1u; e -= 1; }
  // root = floor(sqrt(m * 2^25)): 25 bits (24 and a guard bit) from the 50-bit operand, two bits at a time.
  let hi = m >> 7u;
  let lo = m << 25u;
  var root = 0u;
  var rem = 0u;
  for (var i = 0u; i < 25u; i++) {
    let b = 48u - 2u * i;
    let two = select(lo >> b, hi >> (b - 32u), b >= 32u) & 3u;
    rem = (rem << 2u) | two;
    let trial = (root << 2u) | 1u;
    root = root << 1u;
    if (rem >= trial) { rem -= trial; root |= 1u; }
  }
  // A square root is never exactly halfway between two f32, so the guard bit alone decides.
  return round_pack(0u, root, e / 2 + 127, rem != 0u);
}
fn next_up(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) + 1u); }
fn next_down(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) - 1u); }
`;

/** Error-free transformations and the f32 FMA emulation. */
const EXACT = /* wgsl */ `
// Knuth's two-sum. Every step goes through rb(): Mesa's NIR otherwise simplifies (s - (s - a)) to a.
fn two_sum(a: f32, b: f32) -> vec2<f32> {
  let s = rb(a + b);
  let bb = rb(s - a);
  return vec2<f32>(s, rb(a - rb(s - bb)) + rb(b - bb));
}
// Veltkamp split into two 12-bit halves (4097 = 2^12 + 1).
fn split(a: f32) -> vec2<f32> {
  let c = rb(4097.0 * a);
  let h = rb(c - rb(c - a));
  return vec2<f32>(h, rb(a - h));
}
// Dekker: a * b = p + e exactly (no underflow or overflow).
fn two_prod(a: f32, b: f32) -> vec2<f32> {
  let p = rb(a * b);
  let sa = split(a);
  let sb = split(b);
  let e = rb(rb(rb(rb(sa.x * sb.x) - p) + rb(sa.x * sb.y)) + rb(sa.y * sb.x)) + rb(sa.y * sb.y);
  return vec2<f32>(p, e);
}
// a + b rounded to odd: the nearest result, moved one ulp towards the exact sum when it is inexact and even.
fn add_ro(a: f32, b: f32) -> f32 {
  let t = two_sum(a, b);
  let u = bitcast<u32>(t.x);
  if (t.y == 0.0 || (u & 1u) == 1u) { return t.x; }
  let away = (t.y > 0.0) == (t.x > 0.0);
  return bitcast<f32>(select(u - 1u, u + 1u, away));
}
// Correctly rounded a * b + c (Boldo-Melquiond), exact unless a * b underflows (|a * b| < 2^-102) or overflows.
fn fma_emu(a: f32, b: f32, c: f32) -> f32 {
  let u = two_prod(a, b);
  let t = two_sum(c, u.x);
  let v = add_ro(t.y, u.y);
  return rb(t.x + v);
}
// Double-f32 accumulation (hi, lo): add an f32.
fn dd_add(s: vec2<f32>, x: f32) -> vec2<f32> {
  let t = two_sum(s.x, x);
  return two_sum(t.x, rb(t.y + s.y));
}
// Double-f32 sum of two double-f32 values.
fn dd_add2(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let t = two_sum(a.x, b.x);
  return two_sum(t.x, rb(t.y + rb(a.y + b.y)));
}
// (hi + lo) / n rounded to an f32, for hi >= 0 and an integer n in [1, 2^24] (RMSNorm's mean).
fn dd_div_int(s: vec2<f32>, n: f32) -> f32 {
  var q = div_rn(s.x, n);
  if (q == 0.0) { return q; }
  let p = two_prod(q, n);
  let r = rb(rb(rb(s.x - p.x) - p.y) + s.y); // hi + lo - q n
  let half = rb(next_up(q) - q) * n * 0.5;
  let half_down = rb(q - next_down(q)) * n * 0.5;
  if (r > half) { q = next_up(q); } else if (r < -half_down) { q = next_down(q); }
  return q;
}
// 1 / (hi + lo) rounded to an f32, for hi > 0 (the softmax denominator).
fn dd_recip(s: vec2<f32>) -> f32 {
  var q = div_rn(1.0, s.x);
  let p = two_prod(q, s.x);
  let r = rb(rb(rb(1.0 - p.x) - p.y) - rb(q * s.y)); // 1 - q (hi + lo)
  let t = rb(r * q);
  let half = rb(next_up(q) - q) * 0.5;
  let half_down = rb(q - next_down(q)) * 0.5;
  if (t > half) { q = next_up(q); } else if (t < -half_down) { q = next_down(q); }
  return q;
}
`;

/** ggml's reduction trees and its AVX-512 `ggml_v_expf` (constants of ggml-cpu/vec.h). */
const GGML = /* wgsl */ `
// GCC's _mm512_reduce_add_ps.
fn reduce16(v: ptr<function, array<f32, 16>>) -> f32 {
  var t3 = array<f32, 8>();
  for (var i = 0u; i < 8u; i++) { t3[i] = (*v)[8u + i] + (*v)[i]; }
  return ((t3[4] + t3[0]) + (t3[6] + t3[2])) + ((t3[5] + t3[1]) + (t3[7] + t3[3]));
}
// AVX2 hsum_float_8 (arch/x86/quants.c).
fn hsum8(x: ptr<function, array<f32, 8>>) -> f32 {
  return (((*x)[4] + (*x)[0]) + ((*x)[6] + (*x)[2])) + (((*x)[5] + (*x)[1]) + ((*x)[7] + (*x)[3]));
}
fn v_expf(x: f32) -> f32 {
  let z = fma_x(x, bitcast<f32>(0x3fb8aa3bu), 12582912.0); // 0x1.715476p+0, 0x1.8p23
  let n = z - 12582912.0;
  let b = fma_x(-n, bitcast<f32>(0x35bfbe8eu), fma_x(-n, bitcast<f32>(0x3f317200u), x)); // ln2 lo, hi
  if (abs(n) > 192.0) { return select(bitcast<f32>(0x7f800000u), 0.0, n <= 0.0); }
  let u = rb(b * b);
  let c5 = bitcast<f32>(0x3c072010u);
  let c4 = bitcast<f32>(0x3d2b9f17u);
  let c3 = bitcast<f32>(0x3e2aaf33u);
  let c2 = bitcast<f32>(0x3efffedbu);
  let c1 = bitcast<f32>(0x3f7ffff6u);
  let j = fma_x(fma_x(fma_x(c5, b, c4), u, fma_x(c3, b, c2)), u, fma_x(c1, b, 1.0));
  // _mm512_scalef_ps(j, n): j * 2^n rounded once; exact by exponent arithmetic while the result is normal.
  let ni = i32(n);
  let ju = bitcast<u32>(j);
  let ej = i32((ju >> 23u) & 0xffu) + ni;
  if (ej >= 255) { return bitcast<f32>(0x7f800000u); }
  if (ej >= 1) { return bitcast<f32>((ju & 0x807fffffu) | (u32(ej) << 23u)); }
  // A subnormal result, rounded once by integer arithmetic (llvmpipe's ldexp flushes it to zero).
  return round_pack(ju & 0x80000000u, ((ju & 0x7fffffu) | 0x800000u) << 1u, ej, false);
}
// ggml_v_silu: x / (1 + v_expf(0 - x)); an overflowing exp gives a zero with the sign of x.
fn v_silu(x: f32) -> f32 {
  let e = v_expf(0.0 - x);
  if (bitcast<u32>(e) == 0x7f800000u) { return bitcast<f32>(bitcast<u32>(x) & 0x80000000u); }
  return div_rn(x, 1.0 + e);
}
`;

/** The packed int8 dot product, native or spelled out. */
function dot4(native: boolean): string {
  if (native) return "fn dot4(a: u32, b: u32) -> i32 { return dot4I8Packed(a, b); }\n";
  return /* wgsl */ `
fn dot4(a: u32, b: u32) -> i32 {
  return sbyte(a, 0u) * sbyte(b, 0u) + sbyte(a, 1u) * sbyte(b, 1u) + sbyte(a, 2u) * sbyte(b, 2u) +
    sbyte(a, 3u) * sbyte(b, 3u);
}
`;
}

/**
 * The prelude of every kernel: parameters, conversions, correctly rounded arithmetic, FMA (native or emulated),
 * ggml's reductions and `v_expf`, and the packed dot product.
 *
 * @param opts The adapter's capabilities (probed by the device).
 * @returns WGSL source.
 * @example
 * ```ts
 * import { wgslMath } from "./wgsl_math.ts";
 * console.log(wgslMath({ fusedFma: false, dot4: true }).includes("fn div_rn")); // true
 * ```
 */
export function wgslMath(opts: WgslMathOptions): string {
  const fma = opts.fusedFma
    ? "fn fma_x(a: f32, b: f32, c: f32) -> f32 { return fma(a, b, c); }\n"
    : "fn fma_x(a: f32, b: f32, c: f32) -> f32 { return fma_emu(a, b, c); }\n";
  return PARAMS + HALF + ROUNDED + EXACT + fma + GGML + dot4(opts.dot4);
}

/**
 * Byte-addressed loads and masked stores over one `array<u32>` binding, named after it (`ld8_b0`, `ld16_b0`,
 * `ld32_b0`, `st32m_b0`): GGUF block sizes (engine/quant/ggml_type.ts) are not all multiples of 4, so their fields are not word-aligned.
 *
 * @param name The binding's variable name.
 * @param writable Whether to emit the masked store (the binding is read-write).
 * @returns WGSL source.
 * @example
 * ```ts
 * import { byteAccess } from "./wgsl_math.ts";
 * console.log(byteAccess("b0", false).includes("fn ld32_b0")); // true
 * ```
 */
export function byteAccess(name: string, writable: boolean): string {
  const n = name;
  let s = /* wgsl */ `
fn ld8_${n}(a: u32) -> u32 { return (${n}[a >> 2u] >> (8u * (a & 3u))) & 0xffu; }
fn ld16_${n}(a: u32) -> u32 {
  if ((a & 3u) == 3u) { return ld8_${n}(a) | (ld8_${n}(a + 1u) << 8u); }
  return (${n}[a >> 2u] >> (8u * (a & 3u))) & 0xffffu;
}
// A 2-byte-aligned u16 (F16/BF16 rows; the kernels check the alignment).
fn ld16a_${n}(a: u32) -> u32 { return (${n}[a >> 2u] >> (8u * (a & 2u))) & 0xffffu; }
fn ld32_${n}(a: u32) -> u32 {
  let wi = a >> 2u;
  let sh = 8u * (a & 3u);
  if (sh == 0u) { return ${n}[wi]; }
  return (${n}[wi] >> sh) | (${n}[wi + 1u] << (32u - sh));
}
`;
  if (writable) {
    s += /* wgsl */ `
// Store the bytes of v selected by mask into word w, keeping the others.
fn st32m_${n}(wi: u32, v: u32, mask: u32) {
  if (mask == 0xffffffffu) { ${n}[wi] = v; } else if (mask != 0u) { ${n}[wi] = (${n}[wi] & ~mask) | (v & mask); }
}
`;
  }
  return s;
}
