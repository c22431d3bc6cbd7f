/**
 * `sinf` / `cosf` bit-exact with the glibc x86-64 build llama.cpp's CPU backend calls for its RoPE cache
 * (`ggml_rope_cache_init` -> `rope_yarn` -> `cosf`/`sinf`). glibc >= 2.28 implements them in double precision
 * (`sysdeps/ieee754/flt-32/s_sinf.c`, `s_cosf.c`, `s_sincosf.h`, `sincosf_poly.h`, Szabolcs Nagy / Arm, worst
 * case 0.56 ulp, so they are not always correctly rounded: `Math.fround(Math.cos(x))` differs in a few percent
 * of RoPE angles). On x86-64 CPUs with FMA, glibc selects its `-mfma -mavx2` build of the same source, in which
 * GCC contracts every `a + b * c` into a fused multiply-add; this port does the same with an exact double FMA.
 * `engine/model/model_test.ts` checks it against the system libm through FFI.
 *
 * @module
 */

// Dekker split constant 2^27 + 1.
const SPLIT = 134217729;

/** Exact `a * b + c` rounded once (error-free transformations; exact except in astronomically rare ties). */
function fma(a: number, b: number, c: number): number {
  const p = a * b;
  // TwoProduct error term.
  let t = SPLIT * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b), bl = b - bh;
  const e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
  // TwoSum(p, c), then add the two error terms.
  const s = p + c;
  const bb = s - p;
  const err = (p - (s - bb)) + (c - bb);
  return s + (err + e);
}

// __sincosf_table (s_sincosf_data.c), x86-64 (TOINT_INTRINSICS = 0: hpi_inv prescaled by 2^24).
interface Poly {
  readonly sign: readonly number[];
  readonly hpiInv: number;
  readonly hpi: number;
  readonly c0: number;
  readonly c1: number;
  readonly c2: number;
  readonly c3: number;
  readonly c4: number;
  readonly s1: number;
  readonly s2: number;
  readonly s3: number;
}

const TABLE: readonly [Poly, Poly] = [
  {
    sign: [1, -1, -1, 1],
    hpiInv: 0x145f306dc9c883 * 2 ** -52 * 2 ** 23, // 0x1.45F306DC9C883p+23
    hpi: 0x1921fb54442d18 * 2 ** -52, // 0x1.921FB54442D18p0
    c0: 1,
    c1: -0x1ffffffd0c621c * 2 ** -52 * 2 ** -2,
    c2: 0x155553e1068f19 * 2 ** -52 * 2 ** -5,
    c3: -0x16c087e89a359d * 2 ** -52 * 2 ** -10,
    c4: 0x199343027bf8c3 * 2 ** -52 * 2 ** -16,
    s1: -0x1555545995a603 * 2 ** -52 * 2 ** -3,
    s2: 0x11107605230bc4 * 2 ** -52 * 2 ** -7,
    s3: -0x1994eb3774cf24 * 2 ** -52 * 2 ** -13,
  },
  {
    sign: [1, -1, -1, 1],
    hpiInv: 0x145f306dc9c883 * 2 ** -52 * 2 ** 23,
    hpi: 0x1921fb54442d18 * 2 ** -52,
    c0: -1,
    c1: 0x1ffffffd0c621c * 2 ** -52 * 2 ** -2,
    c2: -0x155553e1068f19 * 2 ** -52 * 2 ** -5,
    c3: 0x16c087e89a359d * 2 ** -52 * 2 ** -10,
    c4: -0x199343027bf8c3 * 2 ** -52 * 2 ** -16,
    s1: -0x1555545995a603 * 2 ** -52 * 2 ** -3,
    s2: 0x11107605230bc4 * 2 ** -52 * 2 ** -7,
    s3: -0x1994eb3774cf24 * 2 ** -52 * 2 ** -13,
  },
];

/** 4/PI to 192 bits, 8 new bits per entry (__inv_pio4). */
const INV_PIO4 = [
  0xa2,
  0xa2f9,
  0xa2f983,
  0xa2f9836e,
  0xf9836e4e,
  0x836e4e44,
  0x6e4e4415,
  0x4e441529,
  0x441529fc,
  0x1529fc27,
  0x29fc2757,
  0xfc2757d1,
  0x2757d1f5,
  0x57d1f534,
  0xd1f534dd,
  0xf534ddc0,
  0x34ddc0db,
  0xddc0db62,
  0xc0db6295,
  0xdb629599,
  0x6295993c,
  0x95993c43,
  0x993c4390,
  0x3c439041,
].map(BigInt);

const PI63 = 0x1921fb54442d18 * 2 ** -52 * 2 ** -62;
const PIO4_TOP = 0x3f4; // abstop12(0x1.921FB54442D18p-1f)
const TINY_TOP = 0x39800000 >>> 20; // abstop12(0x1p-12f)
const TOP_120 = 0x42f00000 >>> 20; // abstop12(120.0f)

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function sinfPoly(x: number, x2: number, p: Poly, n: number): number {
  if ((n & 1) === 0) {
    const x3 = x * x2;
    const s1 = fma(x2, p.s3, p.s2);
    const x7 = x3 * x2;
    const s = fma(x3, p.s1, x);
    return Math.fround(fma(x7, s1, s));
  }
  const x4 = x2 * x2;
  const c2 = fma(x2, p.c4, p.c3);
  const c1 = fma(x2, p.c1, p.c0);
  const x6 = x4 * x2;
  const c = fma(x4, p.c2, c1);
  return Math.fround(fma(x6, c2, c));
}

/** Quadrant and remainder for |x| < 120 (reduce_fast without TOINT_INTRINSICS). */
function reduceFast(x: number, p: Poly): [number, number] {
  const r = x * p.hpiInv;
  const n = ((Math.trunc(r) | 0) + 0x800000) >> 24;
  return [fma(-n, p.hpi, x), n];
}

/** Quadrant and remainder for large |x| from the float's bits (reduce_large, exact 2.62 fixed point). */
function reduceLarge(xi: number): [number, number] {
  const arr = (xi >>> 26) & 15;
  const shift = BigInt((xi >>> 23) & 7);
  const m = BigInt(((xi & 0xffffff) | 0x800000) >>> 0) << shift;
  const mask64 = (1n << 64n) - 1n;
  const x32 = m & 0xffffffffn;
  let res0 = (x32 * INV_PIO4[arr]) & 0xffffffffn;
  const res1 = x32 * INV_PIO4[arr + 4];
  const res2 = x32 * INV_PIO4[arr + 8];
  res0 = ((res2 >> 32n) | (res0 << 32n)) & mask64;
  res0 = (res0 + res1) & mask64;
  const n = ((res0 + (1n << 61n)) & mask64) >> 62n;
  res0 = (res0 - (n << 62n)) & mask64;
  return [Number(BigInt.asIntN(64, res0)) * PI63, Number(n)];
}

function sincos(y: number, cos: boolean): number {
  f32[0] = y;
  const xi = u32[0];
  const top = (xi >>> 20) & 0x7ff;
  let x = f32[0];
  let p = TABLE[0];
  if (top < PIO4_TOP) {
    if (top < TINY_TOP) return cos ? 1 : f32[0];
    return sinfPoly(x, x * x, p, cos ? 1 : 0);
  }
  let n: number, sign: number;
  if (top < TOP_120) {
    [x, n] = reduceFast(x, p);
    sign = 0;
  } else if (top < 0x7f8) {
    [x, n] = reduceLarge(xi);
    sign = xi >>> 31;
  } else {
    return NaN;
  }
  const q = (n + sign) & 3;
  const s = p.sign[q];
  if (q & 2) p = TABLE[1];
  return sinfPoly(x * s, x * x, p, cos ? n ^ 1 : n);
}

/**
 * glibc `sinf` (FMA build), as an f32 value.
 *
 * @param y An f32 argument.
 * @returns `sinf(y)`.
 * @example
 * ```ts
 * import { sinf } from "./sincosf.ts";
 * console.log(sinf(1) === Math.fround(Math.sin(1))); // true
 * ```
 */
export function sinf(y: number): number {
  return sincos(y, false);
}

/**
 * glibc `cosf` (FMA build), as an f32 value.
 *
 * @param y An f32 argument.
 * @returns `cosf(y)`.
 * @example
 * ```ts
 * import { cosf } from "./sincosf.ts";
 * console.log(cosf(0) === 1); // true
 * ```
 */
export function cosf(y: number): number {
  return sincos(y, true);
}
