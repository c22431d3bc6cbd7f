//! Activation quantizers (Q8_K, Q8_0, I8_S, F16, BF16) and the Q8_0 / Q6_K matrix products.
//! Rounding: `f32x4.nearest` is round-half-even, identical to ggml's `nearest_int` for |v| <= 2^22.

use super::{f32x4_from, f32x4_lanes, hsum4_i32, hsum_i32};
use crate::blocks::*;
use crate::num::{f16_to_f32, f32_to_bf16, f32_to_f16};

use crate::scalar::{fabsf, Dims};
use crate::view::Mem;
use core::arch::wasm32::*;

/// Max of the lanes, ignoring NaN like the scalar `if ax > amax` loops (pmax keeps the accumulator).
#[inline(always)]
fn hmax(v: v128) -> f32 {
    let l = f32x4_lanes(v);
    let mut m = l[0];
    for x in [l[1], l[2], l[3]] {
        if m < x {
            m = x;
        }
    }
    m
}

/// Q8_K rows (see `scalar::quantize_q8_k`).
pub fn quantize_q8_k(x: Mem, y: Mem, k: usize, r0: usize, r1: usize) {
    let nb = k / QK_K;
    for r in r0..r1 {
        for b in 0..nb {
            let xb = x.sub((r * k + b * QK_K) * 4, QK_K * 4);
            let yb = y.sub((r * nb + b) * Q8_K_BYTES, Q8_K_BYTES);
            let mut am = f32x4_splat(0.0);
            for i in 0..QK_K / 4 {
                am = f32x4_pmax(am, f32x4_abs(xb.v128(16 * i)));
            }
            let amax = hmax(am);
            if amax == 0.0 {
                yb.set_f32(0, 0.0);
                for i in 0..QK_K / 16 {
                    yb.set_v128(Q8_K_QS + 16 * i, i32x4_splat(0));
                }
                yb.set_v128(Q8_K_BSUMS, i32x4_splat(0));
                yb.set_v128(Q8_K_BSUMS + 16, i32x4_splat(0));
                continue;
            }
            // The signed value at the first index whose |x| is the max (the scalar loop's strict `>`).
            let mut max = amax;
            let target = f32x4_splat(amax);
            for i in 0..QK_K / 4 {
                let m = f32x4_eq(f32x4_abs(xb.v128(16 * i)), target);
                let bits = i32x4_bitmask(m);
                if bits != 0 {
                    max = xb.f32_at(4 * i + bits.trailing_zeros() as usize);
                    break;
                }
            }
            let iscale = -127.0f32 / max;
            let vs = f32x4_splat(iscale);
            for g in 0..QK_K / 16 {
                // nearest_int's own arithmetic (v + 1.5*2^23, low 23 bits - 2^22), min 127, then the low byte:
                // equal to round-half-even for normal inputs and to ggml's bytes for the rest (e.g. an inf
                // iscale from a block of subnormals).
                let q: [v128; 4] = core::array::from_fn(|i| {
                    let v = f32x4_add(f32x4_mul(vs, xb.v128(64 * g + 16 * i)), f32x4_splat(12582912.0));
                    let n = i32x4_sub(v128_and(v, i32x4_splat(0x007f_ffff)), i32x4_splat(0x0040_0000));
                    i32x4_min(n, i32x4_splat(127))
                });
                let lo = i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0>(q[0], q[1]);
                let hi = i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0>(q[2], q[3]);
                let b16 = i64x2_shuffle::<0, 2>(lo, hi);
                yb.set_v128(Q8_K_QS + 16 * g, b16);
                let s = hsum_i32(i32x4_extadd_pairwise_i16x8(i16x8_extadd_pairwise_i8x16(b16)));
                yb.set_u16(Q8_K_BSUMS + 2 * g, s as i16 as u16);
            }
            yb.set_f32(0, 1.0 / iscale);
        }
    }
}

/// Q8_0 rows as ggml's x86 path (see `scalar::quantize_q8_0`).
pub fn quantize_q8_0(x: Mem, y: Mem, k: usize, r0: usize, r1: usize) {
    let nb = k / QK8_0;
    for r in r0..r1 {
        for b in 0..nb {
            let xb = x.sub((r * k + b * QK8_0) * 4, QK8_0 * 4);
            let yb = y.sub((r * nb + b) * Q8_0_BYTES, Q8_0_BYTES);
            let mut am = f32x4_splat(0.0);
            for i in 0..QK8_0 / 4 {
                am = f32x4_pmax(am, f32x4_abs(xb.v128(16 * i)));
            }
            let amax = hmax(am);
            yb.set_u16(0, f32_to_f16(amax / 127.0));
            let id = f32x4_splat(if amax != 0.0 { 127.0 / amax } else { 0.0 });
            for g in 0..QK8_0 / 16 {
                let q: [v128; 4] = core::array::from_fn(|i| {
                    let v = f32x4_nearest(f32x4_mul(xb.v128(64 * g + 16 * i), id));
                    // cvtps2dq: NaN and |v| >= 2^31 give 0x80000000, which the saturating packs turn into -128.
                    let ok = f32x4_lt(f32x4_abs(v), f32x4_splat(2147483648.0));
                    v128_bitselect(i32x4_trunc_sat_f32x4(v), i32x4_splat(i32::MIN), ok)
                });
                let b16 = i8x16_narrow_i16x8(i16x8_narrow_i32x4(q[0], q[1]), i16x8_narrow_i32x4(q[2], q[3]));
                yb.set_v128(2 + 16 * g, b16);
            }
        }
    }
}

/// I8_S rows (see `scalar::quantize_i8_s`).
pub fn quantize_i8_s(x: Mem, y: Mem, k: usize, r0: usize, r1: usize) {
    let stride = k + I8_S_ROW_EXTRA;
    let k16 = k / 16 * 16;
    for r in r0..r1 {
        let xr = x.sub(r * k * 4, k * 4);
        let yr = y.sub(r * stride, stride);
        let mut am = f32x4_splat(0.0);
        let mut i = 0;
        while i + 4 <= k {
            am = f32x4_pmax(am, f32x4_abs(xr.v128(4 * i)));
            i += 4;
        }
        let mut amax = hmax(am);
        while i < k {
            let a = fabsf(xr.f32_at(i));
            if a > amax {
                amax = a;
            }
            i += 1;
        }
        // max(1e-5, max|x|) in f64: the f32 max converts exactly.
        let maxd = if (amax as f64) > 0.00001f64 { amax as f64 } else { 0.00001f64 };
        let s = (127.0 / maxd) as f32;
        let vs = f32x4_splat(s);
        let lo = i32x4_splat(-128);
        let hi = i32x4_splat(127);
        let mut sum = i32x4_splat(0);
        let mut i = 0;
        while i < k16 {
            let q: [v128; 4] = core::array::from_fn(|j| {
                let v = i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(xr.v128(4 * (i + 4 * j)), vs)));
                i32x4_min(i32x4_max(v, lo), hi)
            });
            sum = i32x4_add(sum, i32x4_add(i32x4_add(q[0], q[1]), i32x4_add(q[2], q[3])));
            yr.set_v128(i, i8x16_narrow_i16x8(i16x8_narrow_i32x4(q[0], q[1]), i16x8_narrow_i32x4(q[2], q[3])));
            i += 16;
        }
        let mut total = hsum_i32(sum);
        while i < k {
            let v = crate::num::nearest_int(xr.f32_at(i) * s).clamp(-128, 127);
            total += v;
            yr.set_u8(i, v as i8 as u8);
            i += 1;
        }
        yr.set_f32(k, s);
        yr.set_u32(k + 4, total as u32);
        yr.set_u32(k + 8, 0);
        yr.set_u32(k + 12, 0);
    }
}

/// f32 -> f16 of 4 lanes (vectorized `num::f32_to_f16`), results in the low 16 bits of each i32 lane.
#[inline(always)]
fn f32x4_to_f16(v: v128) -> v128 {
    let sign = v128_and(v, i32x4_splat(0x8000_0000u32 as i32));
    let u = v128_xor(v, sign);
    let big = v128_bitselect(i32x4_splat(0x7e00), i32x4_splat(0x7c00), i32x4_gt(u, i32x4_splat(0x7f80_0000)));
    let magic = i32x4_splat(126 << 23);
    let sub = i32x4_sub(f32x4_add(u, magic), magic);
    let odd = v128_and(u32x4_shr(u, 13), i32x4_splat(1));
    let norm = u32x4_shr(i32x4_add(i32x4_add(u, i32x4_splat(0xc800_0fffu32 as i32)), odd), 13);
    let small = i32x4_lt(u, i32x4_splat(0x3880_0000));
    let large = i32x4_ge(u, i32x4_splat(0x4780_0000));
    let o = v128_bitselect(sub, v128_bitselect(big, norm, large), small);
    v128_or(o, u32x4_shr(sign, 16))
}

/// f32 -> bf16 of 4 lanes (vectorized `num::f32_to_bf16`), results in the low 16 bits of each lane.
#[inline(always)]
fn f32x4_to_bf16(v: v128) -> v128 {
    let nan = i32x4_gt(v128_and(v, i32x4_splat(0x7fff_ffff)), i32x4_splat(0x7f80_0000));
    let quiet = v128_or(u32x4_shr(v, 16), i32x4_splat(64));
    let round = u32x4_shr(i32x4_add(v, i32x4_add(i32x4_splat(0x7fff), v128_and(u32x4_shr(v, 16), i32x4_splat(1)))), 16);
    v128_bitselect(quiet, round, nan)
}

/// Elements s..e of `x` to f16 (`half` = true) or bf16.
pub fn quantize_half(half: bool, x: Mem, y: Mem, s: usize, e: usize) {
    let mut i = s;
    while i + 8 <= e {
        let (a, b) = (x.v128(4 * i), x.v128(4 * i + 16));
        let (a, b) = if half { (f32x4_to_f16(a), f32x4_to_f16(b)) } else { (f32x4_to_bf16(a), f32x4_to_bf16(b)) };
        y.set_v128(2 * i, i8x16_shuffle::<0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29>(a, b));
        i += 8;
    }
    while i < e {
        let v = x.f32_at(i);
        y.set_u16(2 * i, if half { f32_to_f16(v) } else { f32_to_bf16(v) });
        i += 1;
    }
}

/// Q8_0 x Q8_0 tile: one row, tokens t0..t0+T in the lanes.
#[inline(always)]
fn q8_0_tile<const T: usize>(w: Mem, x: Mem, y: Mem, dm: Dims, o: usize, t0: usize) {
    let nb = dm.k / QK8_0;
    let mut acc = f32x4_splat(0.0);
    for b in 0..nb {
        let wb = w.sub((o * nb + b) * Q8_0_BYTES, Q8_0_BYTES);
        let w0 = wb.v128(2);
        let w1 = wb.v128(18);
        let wl = [i16x8_extend_low_i8x16(w0), i16x8_extend_high_i8x16(w0), i16x8_extend_low_i8x16(w1), i16x8_extend_high_i8x16(w1)];
        let mut p = [i32x4_splat(0); 4];
        let mut dy = [0.0f32; 4];
        for t in 0..T {
            let yb = x.sub(((t0 + t) * nb + b) * Q8_0_BYTES, Q8_0_BYTES);
            let y0 = yb.v128(2);
            let y1 = yb.v128(18);
            let s0 = i32x4_add(i32x4_dot_i16x8(wl[0], i16x8_extend_low_i8x16(y0)), i32x4_dot_i16x8(wl[1], i16x8_extend_high_i8x16(y0)));
            let s1 = i32x4_add(i32x4_dot_i16x8(wl[2], i16x8_extend_low_i8x16(y1)), i32x4_dot_i16x8(wl[3], i16x8_extend_high_i8x16(y1)));
            p[t] = i32x4_add(s0, s1);
            dy[t] = f16_to_f32(yb.u16(0));
        }
        let sumi = hsum4_i32(p[0], p[1], p[2], p[3]);
        let d = f32x4_mul(f32x4_splat(f16_to_f32(wb.u16(0))), f32x4_from(dy));
        acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(sumi), d));
    }
    let l = f32x4_lanes(acc);
    for t in 0..T {
        y.set_f32_at((t0 + t) * dm.n_out + o, l[t]);
    }
}

/// Q8_0 x Q8_0 for rows r0..r1.
pub fn gemm_q8_0(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize) {
    let mut t = 0;
    while t < dm.n_tok {
        let nt = dm.n_tok - t;
        for o in r0..r1 {
            match nt {
                1 => q8_0_tile::<1>(w, x, y, dm, o, t),
                2 => q8_0_tile::<2>(w, x, y, dm, o, t),
                3 => q8_0_tile::<3>(w, x, y, dm, o, t),
                _ => q8_0_tile::<4>(w, x, y, dm, o, t),
            }
        }
        t += 4;
    }
}

/// The 256 6-bit values of a Q6_K block minus 32 as 16 i8x16 (element order), ggml's unpacking.
#[inline(always)]
fn q6_k_unpack(wb: Mem) -> [v128; 16] {
    let m4 = u8x16_splat(0x0f);
    let m30 = u8x16_splat(0x30);
    let off = i8x16_splat(32);
    let mut out = [i32x4_splat(0); 16];
    for h in 0..2 {
        let ql: [v128; 4] = core::array::from_fn(|i| wb.v128(h * 64 + 16 * i));
        let qh: [v128; 2] = core::array::from_fn(|i| wb.v128(Q6_K_QH + h * 32 + 16 * i));
        for l in 0..2 {
            let hb = qh[l];
            // group 0: ql[l] low | qh bits 0-1; 1: ql[l+32] low | bits 2-3; 2: ql[l] high | bits 4-5;
            // 3: ql[l+32] high | bits 6-7 (each shifted to bits 4-5).
            let g0 = v128_or(v128_and(ql[l], m4), v128_and(i16x8_shl(hb, 4), m30));
            let g1 = v128_or(v128_and(ql[2 + l], m4), v128_and(i16x8_shl(hb, 2), m30));
            let g2 = v128_or(v128_and(u16x8_shr(ql[l], 4), m4), v128_and(hb, m30));
            let g3 = v128_or(v128_and(u16x8_shr(ql[2 + l], 4), m4), v128_and(u16x8_shr(hb, 2), m30));
            out[h * 8 + l] = i8x16_sub(g0, off);
            out[h * 8 + 2 + l] = i8x16_sub(g1, off);
            out[h * 8 + 4 + l] = i8x16_sub(g2, off);
            out[h * 8 + 6 + l] = i8x16_sub(g3, off);
        }
    }
    out
}

/// Q6_K x Q8_K (see `scalar::gemm_q6_k_q8_k`; the 8 integer and float lanes are kept as ggml's generic).
pub fn gemm_q6_k(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize) {
    let nb = dm.k / QK_K;
    for o in r0..r1 {
        for t in 0..dm.n_tok {
            let mut sums = (f32x4_splat(0.0), f32x4_splat(0.0));
            for b in 0..nb {
                let wb = w.sub((o * nb + b) * Q6_K_BYTES, Q6_K_BYTES);
                let yb = x.sub((t * nb + b) * Q8_K_BYTES, Q8_K_BYTES);
                let a = q6_k_unpack(wb);
                let mut lo = i32x4_splat(0);
                let mut hi = i32x4_splat(0);
                for j in 0..QK_K / 16 {
                    let q8 = yb.v128(Q8_K_QS + 16 * j);
                    // Lane l: a[16j+l]*q8[16j+l] + a[16j+8+l]*q8[16j+8+l] (i16, |.| <= 8128).
                    let p = i16x8_add(i16x8_extmul_low_i8x16(a[j], q8), i16x8_extmul_high_i8x16(a[j], q8));
                    let sc = i32x4_splat(wb.i8(Q6_K_SCALES + j) as i32);
                    lo = i32x4_add(lo, i32x4_mul(sc, i32x4_extend_low_i16x8(p)));
                    hi = i32x4_add(hi, i32x4_mul(sc, i32x4_extend_high_i16x8(p)));
                }
                let d = f32x4_splat(f16_to_f32(wb.u16(Q6_K_D)) * yb.f32(0));
                sums.0 = f32x4_add(sums.0, f32x4_mul(d, f32x4_convert_i32x4(lo)));
                sums.1 = f32x4_add(sums.1, f32x4_mul(d, f32x4_convert_i32x4(hi)));
            }
            let mut sumf = 0.0f32;
            for v in f32x4_lanes(sums.0).into_iter().chain(f32x4_lanes(sums.1)) {
                sumf += v;
            }
            y.set_f32_at(t * dm.n_out + o, sumf);
        }
    }
}
