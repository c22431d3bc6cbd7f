//! `fast` numerics profile: float-weight matrix products with f32 activations (`fast.gemm.f16_f32`,
//! `fast.gemm.bf16_f32`): multiply-adds with `f32x4.relaxed_madd` (one rounding where the CPU has FMA), no
//! activation quantization.
//!
//! F16 weights without F16C: the weight bits placed in f32 position, `sign | (h & 0x7fff) << 13`, are the value
//! times 2^-112 exactly for finite f16 (normal and subnormal), 5 operations per 8 weights (`float::f16x8_scaled`).
//! The activations are scaled once per call by `2^s` (s = 112 unless that would overflow: `x_scale`), and every
//! output is multiplied back by `2^(112 - s)`: powers of two, so the only effect is that products below about
//! 2^-126 of the sum vanish. Weights must be finite (as in `gemm.f16_f16`).
//!
//! Each output is the sum over `i` of `w_i * x_i` in 8 f32x4 chains (lanes `i % 32`), then a fixed tree
//! (`reduce32`) and the tail `K % 32` in order: the order is fixed; with FMA or without, the results differ by
//! float rounding only (tolerance in engine/backends/tolerances.ts).
//!
//! Functions that call `madd` carry `_rmadd` in their name (see `simd128::relaxed3`).

use super::float::f16x8_scaled;
use super::madd;
use crate::num::bf16_to_f32;
use crate::scalar::Dims;
use crate::view::Mem;
use core::arch::wasm32::*;

/// The power-of-two exponent `s` the activations are scaled by: 112, or less when max|x| * 2^112 would reach
/// 2^126 (then s = 126 - 1 - exponent(max|x|)).
pub fn x_scale(x: Mem, n: usize) -> i32 {
    let mut m = f32x4_splat(0.0);
    let mut i = 0;
    while i + 4 <= n {
        m = f32x4_pmax(m, f32x4_abs(x.v128(4 * i)));
        i += 4;
    }
    let mut mx = 0.0f32;
    for v in super::f32x4_lanes(m) {
        if v > mx {
            mx = v;
        }
    }
    while i < n {
        let v = crate::scalar::fabsf(x.f32_at(i));
        if v > mx {
            mx = v;
        }
        i += 1;
    }
    let e = ((mx.to_bits() >> 23) & 0xff) as i32 - 127; // exponent of max|x| (inf/NaN: 128)
    if e + 112 < 125 {
        112
    } else {
        125 - e - 1
    }
}

/// 2^e as f32 for e in [-126, 127].
#[inline(always)]
pub fn pow2(e: i32) -> f32 {
    f32::from_bits(((e + 127) as u32) << 23)
}

/// A float weight format of the fast GEMV.
pub trait FastW {
    const SIZE: usize;
    /// 8 weights at byte `off` as two f32x4 (F16: value * 2^-112).
    fn w8(w: Mem, off: usize) -> (v128, v128);
    /// Weight `i` as the f32 this path multiplies.
    fn w1(w: Mem, i: usize) -> f32;
    /// Exponent of the weight scaling (F16: -112, BF16: 0).
    const W_EXP: i32;
}

pub struct F16;
pub struct Bf16;

impl FastW for F16 {
    const SIZE: usize = 2;
    const W_EXP: i32 = -112;
    #[inline(always)]
    fn w8(w: Mem, off: usize) -> (v128, v128) {
        f16x8_scaled(w.v128(off))
    }
    #[inline(always)]
    fn w1(w: Mem, i: usize) -> f32 {
        let h = w.u16(2 * i) as u32;
        f32::from_bits(((h & 0x8000) << 16) | ((h & 0x7fff) << 13))
    }
}

impl FastW for Bf16 {
    const SIZE: usize = 2;
    const W_EXP: i32 = 0;
    #[inline(always)]
    fn w8(w: Mem, off: usize) -> (v128, v128) {
        let h = w.v128(off);
        let z = i16x8_splat(0);
        (i16x8_shuffle::<8, 0, 9, 1, 10, 2, 11, 3>(h, z), i16x8_shuffle::<12, 4, 13, 5, 14, 6, 15, 7>(h, z))
    }
    #[inline(always)]
    fn w1(w: Mem, i: usize) -> f32 {
        bf16_to_f32(w.u16(2 * i))
    }
}

/// `reduce32` of 8 f32x4 chains: `((c0 + c4) + (c2 + c6)) + ((c1 + c5) + (c3 + c7))`, then the lanes
/// `(l0 + l2) + (l1 + l3)`.
#[inline(always)]
pub fn reduce32(c: &[v128; 8]) -> f32 {
    let a = f32x4_add(f32x4_add(c[0], c[4]), f32x4_add(c[2], c[6]));
    let b = f32x4_add(f32x4_add(c[1], c[5]), f32x4_add(c[3], c[7]));
    let l = super::f32x4_lanes(f32x4_add(a, b));
    (l[0] + l[2]) + (l[1] + l[3])
}

/// Rows r0..r1 x one token: `xs` = the token's activations already scaled (f32, K values). One row at a time
/// (one weight stream), 8 chains of 4 lanes.
#[inline(never)]
pub fn gemv_rmadd<W: FastW>(w: Mem, xs: Mem, y: Mem, dm: Dims, r0: usize, r1: usize, t: usize, post: f32) {
    let k = dm.k;
    let k32 = k / 32 * 32;
    let rb = k * W::SIZE;
    for o in r0..r1 {
        let wr = w.sub(o * rb, rb);
        let mut c = [f32x4_splat(0.0); 8];
        let mut i = 0;
        while i < k32 {
            let ws = wr.sub(i * W::SIZE, 32 * W::SIZE);
            let xv = xs.sub(4 * i, 128);
            unroll!(4, m => {
                let (a, b) = W::w8(ws, 16 * m);
                c[2 * m] = madd(a, xv.v128(32 * m), c[2 * m]);
                c[2 * m + 1] = madd(b, xv.v128(32 * m + 16), c[2 * m + 1]);
            });
            i += 32;
        }
        let mut s = reduce32(&c);
        while i < k {
            s += W::w1(wr, i) * xs.f32_at(i);
            i += 1;
        }
        y.set_f32_at(t * dm.n_out + o, s * post);
    }
}

/// Scalar twin of one output (`scalar_fast::gemm_float`): the same chains, multiply then add.
#[inline(always)]
pub fn dot_twin<W: FastW>(wr: Mem, xs: Mem, k: usize) -> f32 {
    let k32 = k / 32 * 32;
    let mut c = [0.0f32; 32];
    let mut i = 0;
    while i < k32 {
        for l in 0..32 {
            c[l] += W::w1(wr, i + l) * xs.f32_at(i + l);
        }
        i += 32;
    }
    let v: [v128; 8] = core::array::from_fn(|m| f32x4(c[4 * m], c[4 * m + 1], c[4 * m + 2], c[4 * m + 3]));
    let mut s = reduce32(&v);
    while i < k {
        s += W::w1(wr, i) * xs.f32_at(i);
        i += 1;
    }
    s
}

