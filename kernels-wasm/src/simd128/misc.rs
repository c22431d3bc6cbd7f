//! RMSNorm, RoPE, attention, element-wise kernels, ggml's `v_expf` on 4 lanes, and embedding rows.

use super::float::{bf16x8_to_f32, f16x8_to_f32, fma0_f32x4, reduce16_v, vec_dot_f32};
use super::{f32x4_lanes, F64Fma};
use crate::ggml::*;
use crate::scalar::{self, AttnHead, RowType, Unary};
use crate::view::Mem;
use core::arch::wasm32::*;

/// `ggml::v_expf` on 4 lanes, bit-identical: every f32 FMA of ggml's AVX-512 `ggml_v_expf` emulated in two
/// f64x2 halves (exact products, one f64 rounding, then to f32), `scalef` as an exact f64 product by 2^n
/// rounded once, then the same special cases (|n| > 192 -> 0 or inf, NaN -> NaN).
#[inline(always)]
pub fn v_expf4(x: v128, f: F64Fma) -> v128 {
    let c = |b: u32| f64x2_splat(f32::from_bits(b) as f64);
    let lo = f64x2_promote_low_f32x4;
    let hi = |v: v128| f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 2, 3>(v, v));
    let join = |a: v128, b: v128| i32x4_shuffle::<0, 1, 4, 5>(super::demote(a), super::demote(b));
    let rnd = |v: v128| f.round(v);
    let r = c(EXP_R);
    let zh = |xd: v128| f64x2_add(f64x2_mul(xd, c(EXP_LOG2E)), r);
    let (xl, xh) = (lo(x), hi(x));
    let n = f32x4_sub(join(zh(xl), zh(xh)), f32x4_splat(f32::from_bits(EXP_R)));
    // 2^52 + 1023: adding it leaves n + 1023 in the low mantissa bits; << 52 moves them to the exponent.
    let magic = f64x2_splat(4503599627371519.0);
    let half = |xd: v128, nd: v128| {
        let b = rnd(f64x2_sub(xd, f64x2_mul(nd, c(EXP_LN2_HI))));
        let b = rnd(f64x2_sub(b, f64x2_mul(nd, c(EXP_LN2_LO))));
        let u = rnd(f64x2_mul(b, b));
        let fma = |a: v128, b: v128, c: v128| rnd(f64x2_add(f64x2_mul(a, b), c));
        let t1 = fma(c(EXP_C5), b, c(EXP_C4));
        let t2 = fma(c(EXP_C3), b, c(EXP_C2));
        let t4 = fma(c(EXP_C1), b, f64x2_splat(1.0));
        let j = fma(fma(t1, u, t2), u, t4);
        f64x2_mul(j, i64x2_shl(f64x2_add(nd, magic), 52))
    };
    let res = join(half(xl, lo(n)), half(xh, hi(n)));
    let big = f32x4_gt(f32x4_abs(n), f32x4_splat(192.0));
    let alt = v128_and(f32x4_gt(n, f32x4_splat(0.0)), f32x4_splat(f32::INFINITY));
    let res = v128_bitselect(alt, res, big);
    v128_bitselect(f32x4_splat(f32::NAN), res, f32x4_ne(n, n))
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

/// NEOX RoPE of one head in place (see `scalar::rope_neox_head`: GCC's FMA contractions).
pub fn rope_neox_head(xh: Mem, cs: Mem, n_rot: usize) {
    let half = n_rot / 2;
    let f = F64Fma::new();
    let mut i = 0;
    while i + 4 <= half {
        let c = cs.v128(4 * i);
        let s = cs.v128(4 * (half + i));
        let x0 = xh.v128(4 * i);
        let x1 = xh.v128(4 * (i + half));
        xh.set_v128(4 * i, f.fma4(x0, c, f32x4_neg(f32x4_mul(x1, s))));
        xh.set_v128(4 * (i + half), f.fma4(x0, s, f32x4_mul(x1, c)));
        i += 4;
    }
    while i < half {
        let c = cs.f32_at(i);
        let s = cs.f32_at(half + i);
        let x0 = xh.f32_at(i);
        let x1 = xh.f32_at(i + half);
        xh.set_f32_at(i, fma32(x0, c, -(x1 * s)));
        xh.set_f32_at(i + half, fma32(x0, s, x1 * c));
        i += 1;
    }
}

/// Attention of one query head (see `scalar::attention_head`).
pub fn attention_head(q: Mem, k: Mem, v: Mem, out: Mem, e: Mem, p: &AttnHead) {
    let hd = p.head_dim;
    let n = p.n_kv;
    if hd % 4 != 0 {
        return scalar::attention_head(q, k, v, out, e, p);
    }
    let row = |m: Mem, j: usize| m.sub((j * p.kv_stride + p.kv_off) * 4, hd * 4);
    let mut max = f32::NEG_INFINITY;
    for j in 0..n {
        let s = vec_dot_f32(row(k, j), q, hd) * p.scale;
        e.set_f32_at(j, s);
        if s > max {
            max = s;
        }
    }
    // ggml_vec_soft_max_f32: v_expf in 16-lane chunks, each chunk's reduce16 added to an f64 sum.
    let vm = f32x4_splat(max);
    let f = F64Fma::new();
    let mut sum = 0.0f64;
    let mut c = 0;
    while c + 16 <= n {
        let ch: [v128; 4] = core::array::from_fn(|i| v_expf4(f32x4_sub(e.v128(4 * (c + 4 * i)), vm), f));
        for (i, v) in ch.iter().enumerate() {
            e.set_v128(4 * (c + 4 * i), *v);
        }
        sum += reduce16_v(&ch) as f64;
        c += 16;
    }
    if c < n {
        let mut ch = [0.0f32; 16];
        for l in 0..n - c {
            ch[l] = v_expf(e.f32_at(c + l) - max);
            e.set_f32_at(c + l, ch[l]);
        }
        sum += reduce16(&ch) as f64;
    }
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
    // out[d] = sum over j of p_j * v_j[d]: lane j % LANES (tinyBLAS 16 for a batch, vec_dot_f32 64 for one
    // token), each lane's FMAs in j order, then ggml's reduction of the lanes; lanes past n are +0. Computed
    // for 8 outputs at a time, each lane's chain when the reduction needs it (no lane scratch).
    if p.batched {
        attention_sum::<16>(v, out, e, p);
    } else {
        attention_sum::<64>(v, out, e, p);
    }
}

/// The weighted sum of `attention_head` with LANES lanes (16 or 64), outputs in groups of 8 (4 if hd % 8 != 0).
#[inline(always)]
fn attention_sum<const LANES: usize>(v: Mem, out: Mem, e: Mem, p: &AttnHead) {
    let (hd, n) = (p.head_dim, p.n_kv);
    let f = F64Fma::new();
    let z = f32x4_splat(0.0);
    // Lane l's chain for the 8 outputs at d (two f32x4): fma(v_j[d], p_j, acc) over j = l, l + LANES, ...
    let lane = |l: usize, d: usize, two: bool| -> (v128, v128) {
        if l >= n {
            return (z, z);
        }
        let vj = v.sub((l * p.kv_stride + p.kv_off + d) * 4, if two { 32 } else { 16 });
        let pj = f32x4_splat(e.f32_at(l));
        let a = fma0_f32x4(vj.v128(0), pj);
        let b = if two { fma0_f32x4(vj.v128(16), pj) } else { z };
        let mut j = l + LANES;
        if j >= n {
            return (a, b);
        }
        // The rest of the chain with the 8 accumulators as f64 (f32 values), rounded after each FMA.
        let lo = f64x2_promote_low_f32x4;
        let hi = |x: v128| f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 2, 3>(x, x));
        let mut acc = [lo(a), hi(a), lo(b), hi(b)];
        while j < n {
            let vj = v.sub((j * p.kv_stride + p.kv_off + d) * 4, if two { 32 } else { 16 });
            let pj = f64x2_splat(e.f32_at(j) as f64);
            let x = vj.v128(0);
            acc[0] = f.fma(lo(x), pj, acc[0]);
            acc[1] = f.fma(hi(x), pj, acc[1]);
            if two {
                let x = vj.v128(16);
                acc[2] = f.fma(lo(x), pj, acc[2]);
                acc[3] = f.fma(hi(x), pj, acc[3]);
            }
            j += LANES;
        }
        let join = |u: v128, w: v128| i32x4_shuffle::<0, 1, 4, 5>(super::demote(u), super::demote(w));
        (join(acc[0], acc[1]), if two { join(acc[2], acc[3]) } else { z })
    };
    let add = |x: (v128, v128), y: (v128, v128)| (f32x4_add(x.0, y.0), f32x4_add(x.1, y.1));
    // The 16 inputs of reduce16: lane l (16 lanes) or (a[l] + a[32+l]) + (a[16+l] + a[48+l]) (64 lanes).
    let r = |l: usize, d: usize, two: bool| {
        if LANES == 16 {
            lane(l, d, two)
        } else {
            add(add(lane(l, d, two), lane(32 + l, d, two)), add(lane(16 + l, d, two), lane(48 + l, d, two)))
        }
    };
    let mut d = 0;
    while d < hd {
        let two = d + 8 <= hd;
        // reduce16: t3[i] = r[8+i] + r[i]; t6[i] = t3[4+i] + t3[i]; (t6[0] + t6[2]) + (t6[1] + t6[3]).
        let t3: [(v128, v128); 8] = core::array::from_fn(|i| add(r(8 + i, d, two), r(i, d, two)));
        let t6: [(v128, v128); 4] = core::array::from_fn(|i| add(t3[4 + i], t3[i]));
        let o = add(add(t6[0], t6[2]), add(t6[1], t6[3]));
        out.set_v128(4 * d, o.0);
        if two {
            out.set_v128(4 * d + 16, o.1);
        }
        d += if two { 8 } else { 4 };
    }
}

/// Element-wise binary ops on elements s..e (see `scalar::binary`).
pub fn binary(op: Unary, a: Mem, b: Mem, y: Mem, s: usize, e: usize) {
    let mut i = s;
    let f = F64Fma::new();
    let one = f32x4_splat(1.0);
    let zero = f32x4_splat(0.0);
    while i + 4 <= e {
        let x = a.v128(4 * i);
        let u = b.v128(4 * i);
        let v = match op {
            Unary::SwiGlu => f32x4_mul(f32x4_div(x, f32x4_add(one, v_expf4(f32x4_sub(zero, x), f))), u),
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
