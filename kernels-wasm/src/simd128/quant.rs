//! Activation quantizers (Q8_K, Q8_0, I8_S, F16, BF16) and the Q8_0 / Q6_K matrix products.
//! Rounding: `f32x4.nearest` is round-half-even, identical to ggml's `nearest_int` for |v| <= 2^22.

use super::ternary::hsum8_f64;
use super::{f32x4_lanes, hsum_i32, F64Fma};
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

/// i32x4 lane g = sum of the products of byte lanes 4g..4g+3 of `w` and `y` (both i8; `unsigned_w`: `w` holds
/// u8 values 0..=127).
#[inline(always)]
fn group4(w: v128, y: v128, unsigned_w: bool) -> v128 {
    let (wl, wh) = if unsigned_w {
        (u16x8_extend_low_u8x16(w), u16x8_extend_high_u8x16(w))
    } else {
        (i16x8_extend_low_i8x16(w), i16x8_extend_high_i8x16(w))
    };
    let l = i32x4_dot_i16x8(wl, i16x8_extend_low_i8x16(y));
    let h = i32x4_dot_i16x8(wh, i16x8_extend_high_i8x16(y));
    i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(l, h), i32x4_shuffle::<1, 3, 5, 7>(l, h))
}

/// `acc_p = fma(d, v_p, acc_p)` for the 4 f32 lanes of `v` into `acc[at]`, `acc[at + 1]` (f64x2 each).
#[inline(always)]
fn fma_lanes_f32(f: F64Fma, acc: &mut [v128; 4], at: usize, v: v128, d: v128) {
    let a = f64x2_promote_low_f32x4(v);
    let b = f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 2, 3>(v, v));
    acc[at] = f.fma(d, a, acc[at]);
    acc[at + 1] = f.fma(d, b, acc[at + 1]);
}

/// Q8_0 x Q8_0 (see `scalar::gemm_q8_0_q8_0`): lanes 0..3 are bytes 0..15 of a block, 4..7 bytes 16..31.
pub fn gemm_q8_0(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize) {
    let nb = dm.k / QK8_0;
    for o in r0..r1 {
        for t in 0..dm.n_tok {
            let mut acc = [f64x2_splat(0.0); 4];
            let f = F64Fma::new();
            for b in 0..nb {
                let wb = w.sub((o * nb + b) * Q8_0_BYTES, Q8_0_BYTES);
                let yb = x.sub((t * nb + b) * Q8_0_BYTES, Q8_0_BYTES);
                let lo = group4(wb.v128(2), yb.v128(2), false);
                let hi = group4(wb.v128(18), yb.v128(18), false);
                let d = f64x2_splat((f16_to_f32(wb.u16(0)) * f16_to_f32(yb.u16(0))) as f64);
                // |lane| <= 4 * 128 * 128: exact in f32.
                fma_lanes_f32(f, &mut acc, 0, f32x4_convert_i32x4(lo), d);
                fma_lanes_f32(f, &mut acc, 2, f32x4_convert_i32x4(hi), d);
            }
            y.set_f32_at(t * dm.n_out + o, hsum8_f64(&acc));
        }
    }
}

/// The 256 unsigned 6-bit values (0..=63) of a Q6_K block as 16 u8x16 (element order), ggml's unpacking.
#[inline(always)]
fn q6_k_unpack(wb: Mem) -> [v128; 16] {
    let m4 = u8x16_splat(0x0f);
    let m30 = u8x16_splat(0x30);
    let mut out = [i32x4_splat(0); 16];
    for h in 0..2 {
        let ql: [v128; 4] = core::array::from_fn(|i| wb.v128(h * 64 + 16 * i));
        let qh: [v128; 2] = core::array::from_fn(|i| wb.v128(Q6_K_QH + h * 32 + 16 * i));
        for l in 0..2 {
            let hb = qh[l];
            // group 0: ql[l] low | qh bits 0-1; 1: ql[l+32] low | bits 2-3; 2: ql[l] high | bits 4-5;
            // 3: ql[l+32] high | bits 6-7 (each shifted to bits 4-5).
            out[h * 8 + l] = v128_or(v128_and(ql[l], m4), v128_and(i16x8_shl(hb, 4), m30));
            out[h * 8 + 2 + l] = v128_or(v128_and(ql[2 + l], m4), v128_and(i16x8_shl(hb, 2), m30));
            out[h * 8 + 4 + l] = v128_or(v128_and(u16x8_shr(ql[l], 4), m4), v128_and(hb, m30));
            out[h * 8 + 6 + l] = v128_or(v128_and(u16x8_shr(ql[2 + l], 4), m4), v128_and(u16x8_shr(hb, 2), m30));
        }
    }
    out
}

/// Q6_K x Q8_K (see `scalar::gemm_q6_k_q8_k`): chunk m of 16 elements has one scale and belongs to lanes
/// 0..3 (m even) or 4..7 (m odd); the `-32` comes in through the bsums as in ggml's x86 kernel.
pub fn gemm_q6_k(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize) {
    let nb = dm.k / QK_K;
    for o in r0..r1 {
        for t in 0..dm.n_tok {
            let mut acc = [f64x2_splat(0.0); 4];
            let f = F64Fma::new();
            for b in 0..nb {
                let wb = w.sub((o * nb + b) * Q6_K_BYTES, Q6_K_BYTES);
                let yb = x.sub((t * nb + b) * Q8_K_BYTES, Q8_K_BYTES);
                let a = q6_k_unpack(wb);
                let mut s = [i32x4_splat(0); 2];
                for m in 0..16 {
                    let g = group4(a[m], yb.v128(Q8_K_QS + 16 * m), true);
                    s[m % 2] = i32x4_add(s[m % 2], i32x4_mul(g, i32x4_splat(wb.i8(Q6_K_SCALES + m) as i32)));
                }
                // Lane p: - 32 * (bsums[2p] * sc[2p] + bsums[2p+1] * sc[2p+1]) (i32x4_dot_i16x8 adds the pairs).
                let sc = wb.v128(Q6_K_SCALES);
                let b0 = i32x4_dot_i16x8(yb.v128(Q8_K_BSUMS), i16x8_extend_low_i8x16(sc));
                let b1 = i32x4_dot_i16x8(yb.v128(Q8_K_BSUMS + 16), i16x8_extend_high_i8x16(sc));
                let lo = i32x4_sub(s[0], i32x4_shl(b0, 5));
                let hi = i32x4_sub(s[1], i32x4_shl(b1, 5));
                let d = f64x2_splat((yb.f32(0) * f16_to_f32(wb.u16(Q6_K_D))) as f64);
                // _mm256_cvtepi32_ps rounds lanes beyond 2^24 to f32 first.
                fma_lanes_f32(f, &mut acc, 0, f32x4_convert_i32x4(lo), d);
                fma_lanes_f32(f, &mut acc, 2, f32x4_convert_i32x4(hi), d);
            }
            y.set_f32_at(t * dm.n_out + o, hsum8_f64(&acc));
        }
    }
}
