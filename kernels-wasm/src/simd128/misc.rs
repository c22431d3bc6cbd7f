//! RMSNorm, RoPE, attention, element-wise kernels, `expf` on 4 lanes, and embedding rows.

use super::float::{bf16x8_to_f32, dot8_f32, f16x8_to_f32};
use super::f32x4_lanes;
use crate::num::{expf, expf_consts, exp2f_tab};
use crate::scalar::{self, AttnHead, RowType, Unary};
use crate::view::Mem;
use core::arch::wasm32::*;

/// `num::expf` on 4 lanes, bit-identical: the musl table/polynomial in two f64x2 halves, then the same
/// special cases (NaN -> x + x, x > 0x1.62e42ep6 -> inf, x < -0x1.9fe368p6 -> 0).
#[inline(always)]
pub fn expf4(x: v128) -> v128 {
    let hi_t = f32x4_splat(f32::from_bits(0x42b1_7217));
    let lo_t = f32x4_splat(f32::from_bits(0xc2cf_f1b4));
    let xc = f32x4_pmin(f32x4_pmax(x, lo_t), hi_t);
    let a = core2(f64x2_promote_low_f32x4(xc));
    let b = core2(f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 2, 3>(xc, xc)));
    let r = i32x4_shuffle::<0, 1, 4, 5>(f32x4_demote_f64x2_zero(a), f32x4_demote_f64x2_zero(b));
    let r = v128_bitselect(f32x4_splat(f32::INFINITY), r, f32x4_gt(x, hi_t));
    let r = v128_bitselect(f32x4_splat(0.0), r, f32x4_lt(x, lo_t));
    v128_bitselect(f32x4_add(x, x), r, f32x4_ne(x, x))
}

/// `num::expf_core` on two f64 lanes.
#[inline(always)]
fn core2(xd: v128) -> v128 {
    let (inv, shift, c) = expf_consts();
    let z = f64x2_mul(f64x2_splat(inv), xd);
    let kd0 = f64x2_add(z, f64x2_splat(shift));
    let kd = f64x2_sub(kd0, f64x2_splat(shift));
    let r = f64x2_sub(z, kd);
    let i0 = i64x2_extract_lane::<0>(kd0) as usize;
    let i1 = i64x2_extract_lane::<1>(kd0) as usize;
    let tab = i64x2(exp2f_tab(i0 & 31) as i64, exp2f_tab(i1 & 31) as i64);
    let s = i64x2_add(tab, i64x2_shl(kd0, 47));
    let zz = f64x2_add(f64x2_mul(f64x2_splat(c[0]), r), f64x2_splat(c[1]));
    let r2 = f64x2_mul(r, r);
    let y = f64x2_add(f64x2_mul(f64x2_splat(c[2]), r), f64x2_splat(1.0));
    let y = f64x2_add(f64x2_mul(zz, r2), y);
    f64x2_mul(y, s)
}

/// RMSNorm of one row (see `scalar::rms_norm_row`): the f64 sum stays sequential; squares and the
/// scaling are vectorized.
pub fn rms_norm_row(xr: Mem, w: Mem, yr: Mem, k: usize, eps: f32) {
    let mut sum = 0.0f64;
    let mut i = 0;
    while i + 4 <= k {
        let v = xr.v128(4 * i);
        for s in f32x4_lanes(f32x4_mul(v, v)) {
            sum += s as f64;
        }
        i += 4;
    }
    while i < k {
        let v = xr.f32_at(i);
        sum += (v * v) as f64;
        i += 1;
    }
    let mean = (sum / k as f64) as f32;
    let scale = 1.0f32 / scalar::sqrtf(mean + eps);
    let vs = f32x4_splat(scale);
    let mut i = 0;
    while i + 4 <= k {
        yr.set_v128(4 * i, f32x4_mul(f32x4_mul(xr.v128(4 * i), vs), w.v128(4 * i)));
        i += 4;
    }
    while i < k {
        yr.set_f32_at(i, (xr.f32_at(i) * scale) * w.f32_at(i));
        i += 1;
    }
}

/// NEOX RoPE of one head in place (see `scalar::rope_neox_head`).
pub fn rope_neox_head(xh: Mem, cs: Mem, n_rot: usize) {
    let half = n_rot / 2;
    let mut i = 0;
    while i + 4 <= half {
        let c = cs.v128(4 * i);
        let s = cs.v128(4 * (half + i));
        let x0 = xh.v128(4 * i);
        let x1 = xh.v128(4 * (i + half));
        xh.set_v128(4 * i, f32x4_sub(f32x4_mul(x0, c), f32x4_mul(x1, s)));
        xh.set_v128(4 * (i + half), f32x4_add(f32x4_mul(x0, s), f32x4_mul(x1, c)));
        i += 4;
    }
    while i < half {
        let c = cs.f32_at(i);
        let s = cs.f32_at(half + i);
        let x0 = xh.f32_at(i);
        let x1 = xh.f32_at(i + half);
        xh.set_f32_at(i, x0 * c - x1 * s);
        xh.set_f32_at(i + half, x0 * s + x1 * c);
        i += 1;
    }
}

/// `dot8` scores of `q` against 4 cache rows at once (head_dim a multiple of 8): each row keeps its own 8
/// lanes; the 4 reductions run transposed with the order of `scalar::reduce8`.
#[inline(always)]
fn dot8_x4(q: Mem, k: [Mem; 4], hd: usize) -> v128 {
    let z = f32x4_splat(0.0);
    let mut acc = [(z, z); 4];
    let mut i = 0;
    while i < hd {
        let q0 = q.v128(4 * i);
        let q1 = q.v128(4 * i + 16);
        for (a, kr) in acc.iter_mut().zip(k.iter()) {
            a.0 = f32x4_add(a.0, f32x4_mul(q0, kr.v128(4 * i)));
            a.1 = f32x4_add(a.1, f32x4_mul(q1, kr.v128(4 * i + 16)));
        }
        i += 8;
    }
    // c = lanes s[i] + s[i + 4]; then d0 = c0 + c2, d1 = c1 + c3; r = d0 + d1 (reduce8's order).
    let c: [v128; 4] = core::array::from_fn(|r| f32x4_add(acc[r].0, acc[r].1));
    let d01 = f32x4_add(i32x4_shuffle::<0, 1, 4, 5>(c[0], c[1]), i32x4_shuffle::<2, 3, 6, 7>(c[0], c[1]));
    let d23 = f32x4_add(i32x4_shuffle::<0, 1, 4, 5>(c[2], c[3]), i32x4_shuffle::<2, 3, 6, 7>(c[2], c[3]));
    f32x4_add(i32x4_shuffle::<0, 2, 4, 6>(d01, d23), i32x4_shuffle::<1, 3, 5, 7>(d01, d23))
}

/// Attention of one query head (see `scalar::attention_head`). Scores 4 cache rows at a time; the
/// weighted sum keeps 32 output values in registers per pass over the rows.
pub fn attention_head(q: Mem, k: Mem, v: Mem, out: Mem, e: Mem, p: &AttnHead) {
    let hd = p.head_dim;
    let n = p.n_kv;
    let row = |m: Mem, j: usize| m.sub((j * p.kv_stride + p.kv_off) * 4, hd * 4);
    let mut max = f32::NEG_INFINITY;
    let mut j = 0;
    if hd % 8 == 0 {
        let vs = f32x4_splat(p.scale);
        while j + 4 <= n {
            let s = f32x4_mul(dot8_x4(q, [row(k, j), row(k, j + 1), row(k, j + 2), row(k, j + 3)], hd), vs);
            e.set_v128(4 * j, s);
            for x in f32x4_lanes(s) {
                max = max.max(x);
            }
            j += 4;
        }
    }
    while j < n {
        let s = dot8_f32(q, row(k, j), hd) * p.scale;
        e.set_f32_at(j, s);
        max = max.max(s);
        j += 1;
    }
    let vm = f32x4_splat(max);
    let mut j = 0;
    while j + 4 <= n {
        e.set_v128(4 * j, expf4(f32x4_sub(e.v128(4 * j), vm)));
        j += 4;
    }
    while j < n {
        e.set_f32_at(j, expf(e.f32_at(j) - max));
        j += 1;
    }
    let mut sum = 0.0f64;
    for j in 0..n {
        sum += e.f32_at(j) as f64;
    }
    // p_j = e_j * inv, stored over e_j (the scalar twin computes the same product at each use).
    let inv = (1.0 / sum) as f32;
    let vi = f32x4_splat(inv);
    let mut j = 0;
    while j + 4 <= n {
        e.set_v128(4 * j, f32x4_mul(e.v128(4 * j), vi));
        j += 4;
    }
    while j < n {
        e.set_f32_at(j, e.f32_at(j) * inv);
        j += 1;
    }
    let mut d = 0;
    while d + 32 <= hd {
        let mut a = [f32x4_splat(0.0); 8];
        for j in 0..n {
            let pj = f32x4_splat(e.f32_at(j));
            let vj = v.sub((j * p.kv_stride + p.kv_off + d) * 4, 128);
            for (i, ai) in a.iter_mut().enumerate() {
                *ai = f32x4_add(*ai, f32x4_mul(pj, vj.v128(16 * i)));
            }
        }
        for (i, ai) in a.iter().enumerate() {
            out.set_v128(4 * d + 16 * i, *ai);
        }
        d += 32;
    }
    while d + 4 <= hd {
        let mut a = f32x4_splat(0.0);
        for j in 0..n {
            a = f32x4_add(a, f32x4_mul(f32x4_splat(e.f32_at(j)), v.v128((j * p.kv_stride + p.kv_off + d) * 4)));
        }
        out.set_v128(4 * d, a);
        d += 4;
    }
    while d < hd {
        let mut a = 0.0f32;
        for j in 0..n {
            a += e.f32_at(j) * v.f32_at(j * p.kv_stride + p.kv_off + d);
        }
        out.set_f32_at(d, a);
        d += 1;
    }
}

/// Element-wise binary ops on elements s..e (see `scalar::binary`).
pub fn binary(op: Unary, a: Mem, b: Mem, y: Mem, s: usize, e: usize) {
    let mut i = s;
    let one = f32x4_splat(1.0);
    let zero = f32x4_splat(0.0);
    while i + 4 <= e {
        let x = a.v128(4 * i);
        let u = b.v128(4 * i);
        let v = match op {
            Unary::SwiGlu => f32x4_mul(f32x4_div(x, f32x4_add(one, expf4(f32x4_neg(x)))), u),
            Unary::Relu2Glu => {
                // f32::max(x, 0) returns 0 for NaN x, as pmax(0, x) does (0 < NaN is false).
                let r = f32x4_pmax(zero, x);
                f32x4_mul(f32x4_mul(r, r), u)
            }
            Unary::Add => f32x4_add(x, u),
        };
        y.set_v128(4 * i, v);
        i += 4;
    }
    scalar::binary(op, a, b, y, i, e);
}

/// y = x * s on elements i0..i1.
pub fn mul_scalar(x: Mem, s: f32, y: Mem, i0: usize, i1: usize) {
    let vs = f32x4_splat(s);
    let mut i = i0;
    while i + 4 <= i1 {
        y.set_v128(4 * i, f32x4_mul(x.v128(4 * i), vs));
        i += 4;
    }
    scalar::mul_scalar(x, s, y, i, i1);
}

/// One embedding row (see `scalar::get_row`); F32/F16/BF16 vectorized, block formats scalar.
pub fn get_row(ty: RowType, wr: Mem, yr: Mem, k: usize) {
    let mut i = 0;
    match ty {
        RowType::F32 => {
            while i + 4 <= k {
                yr.set_v128(4 * i, wr.v128(4 * i));
                i += 4;
            }
        }
        RowType::F16 | RowType::Bf16 => {
            while i + 8 <= k {
                let h = wr.v128(2 * i);
                let (a, b) = if ty == RowType::F16 { f16x8_to_f32(h) } else { bf16x8_to_f32(h) };
                yr.set_v128(4 * i, a);
                yr.set_v128(4 * i + 16, b);
                i += 8;
            }
        }
        RowType::Q8_0 | RowType::Q6K => {}
    }
    while i < k {
        yr.set_f32_at(i, scalar::dequant(ty, wr, k, i));
        i += 1;
    }
}
