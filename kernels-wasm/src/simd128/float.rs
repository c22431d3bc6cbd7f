//! Float matrix products (F16 x F16, BF16 x BF16, F32 x F32) with the ABI's `dot8` order: two f32x4
//! accumulators per output hold the 8 striped lanes (lane = k % 8), the tail k % 8 continues in scalar
//! lanes, and the same 8-lane reduction ends it.
//!
//! F16 trick (no F16C in wasm): the weight bits placed in f32 position, `sign | (h & 0x7fff) << 13`, are
//! the weight times 2^-112 exactly (normal and subnormal f16). The activation row is converted once per
//! row chunk to f32 times 2^112 (exact: |x| <= 65504 so x * 2^112 < 2^128). Each product
//! (w * 2^-112) * (x * 2^112) then rounds exactly as w * x, so no per-weight rescale is needed.
//! Caveat: inf/NaN F16 *weights* come out finite here (the activations may be inf/NaN).

use super::f32x4_lanes;
use crate::num::{bf16_to_f32, f16_scale, f16_to_f32};
use crate::scalar::{reduce8, Dims};
use crate::view::{Mem, Scratch};
use core::arch::wasm32::*;

/// Scratch floats per thread for converted activations (64 KiB of the thread's stack).
const XS: usize = 16384;

/// The 8 f16 weights of `h` as two f32x4 of their value times 2^-112 (sign kept).
#[inline(always)]
fn f16x8_scaled(h: v128) -> (v128, v128) {
    let lo = i16x8_shl(h, 13);
    let hi = v128_and(i16x8_shr(h, 3), i16x8_splat(0x8fffu16 as i16));
    (i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(lo, hi), i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(lo, hi))
}

/// The 8 bf16 values of `h` as two f32x4 (exact).
#[inline(always)]
fn bf16x8(h: v128) -> (v128, v128) {
    let z = i16x8_splat(0);
    (i16x8_shuffle::<8, 0, 9, 1, 10, 2, 11, 3>(h, z), i16x8_shuffle::<12, 4, 13, 5, 14, 6, 15, 7>(h, z))
}

/// A float weight/activation format of the float GEMM (monomorphized: no format switch in the loops).
pub trait FloatKind {
    /// Bytes per element.
    const SIZE: usize;
    /// 8 weights at byte offset `off` as two f32x4 of the values this path multiplies.
    fn w8(w: Mem, off: usize) -> (v128, v128);
    /// Weight element `i` as the f32 this path multiplies (F16: the same scaled bits as `w8`).
    fn w1(w: Mem, i: usize) -> f32;
    /// 8 activations at byte offset `off`, converted (F16: value * 2^112).
    fn x8(x: Mem, off: usize) -> (v128, v128);
    /// Activation element `i`, converted.
    fn x1(x: Mem, i: usize) -> f32;
    /// The scalar twin, used when a row does not fit the per-thread scratch.
    fn twin(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize);
}

/// F16 x F16.
pub struct F16;
/// BF16 x BF16.
pub struct Bf16;
/// F32 x F32.
pub struct F32;

impl FloatKind for F16 {
    const SIZE: usize = 2;
    #[inline(always)]
    fn w8(w: Mem, off: usize) -> (v128, v128) {
        f16x8_scaled(w.v128(off))
    }
    #[inline(always)]
    fn w1(w: Mem, i: usize) -> f32 {
        let h = w.u16(2 * i) as u32;
        f32::from_bits(((h & 0x8000) << 16) | ((h & 0x7fff) << 13))
    }
    #[inline(always)]
    fn x8(x: Mem, off: usize) -> (v128, v128) {
        let (a, b) = f16x8_scaled(x.v128(off));
        (f16_unscale(a, true), f16_unscale(b, true))
    }
    #[inline(always)]
    fn x1(x: Mem, i: usize) -> f32 {
        f16_to_f32(x.u16(2 * i)) * f16_scale()
    }
    fn twin(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize) {
        crate::scalar::gemm_f16_f16(w, x, y, dm, r0, r1)
    }
}

impl FloatKind for Bf16 {
    const SIZE: usize = 2;
    #[inline(always)]
    fn w8(w: Mem, off: usize) -> (v128, v128) {
        bf16x8(w.v128(off))
    }
    #[inline(always)]
    fn w1(w: Mem, i: usize) -> f32 {
        bf16_to_f32(w.u16(2 * i))
    }
    #[inline(always)]
    fn x8(x: Mem, off: usize) -> (v128, v128) {
        bf16x8(x.v128(off))
    }
    #[inline(always)]
    fn x1(x: Mem, i: usize) -> f32 {
        bf16_to_f32(x.u16(2 * i))
    }
    fn twin(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize) {
        crate::scalar::gemm_bf16_bf16(w, x, y, dm, r0, r1)
    }
}

impl FloatKind for F32 {
    const SIZE: usize = 4;
    #[inline(always)]
    fn w8(w: Mem, off: usize) -> (v128, v128) {
        (w.v128(off), w.v128(off + 16))
    }
    #[inline(always)]
    fn w1(w: Mem, i: usize) -> f32 {
        w.f32_at(i)
    }
    #[inline(always)]
    fn x8(x: Mem, off: usize) -> (v128, v128) {
        (x.v128(off), x.v128(off + 16))
    }
    #[inline(always)]
    fn x1(x: Mem, i: usize) -> f32 {
        x.f32_at(i)
    }
    fn twin(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize) {
        crate::scalar::gemm_f32_f32(w, x, y, dm, r0, r1)
    }
}

/// Tile: rows o0..o0+R x tokens t0..t0+T, activations already converted into `xs` (`[T][K]` f32).
/// The main loop takes 32 elements per step through fixed-size sub-views, so the per-load bounds checks
/// fold away and one check per row and step remains.
#[inline(never)]
fn tile<W: FloatKind, const R: usize, const T: usize>(w: Mem, xs: Mem, y: Mem, dm: Dims, o0: usize, t0: usize) {
    let k = dm.k;
    let k32 = k / 32 * 32;
    let k8 = k / 8 * 8;
    let rb = k * W::SIZE;
    let wr: [Mem; R] = core::array::from_fn(|r| w.sub((o0 + r) * rb, rb));
    let xr: [Mem; T] = core::array::from_fn(|t| xs.sub(t * k * 4, k * 4));
    let z = f32x4_splat(0.0);
    let mut a = [[(z, z); T]; R];
    let mut i = 0;
    while i < k32 {
        let xst: [Mem; T] = core::array::from_fn(|t| xr[t].sub(4 * i, 128));
        let wst: [Mem; R] = core::array::from_fn(|r| wr[r].sub(i * W::SIZE, 32 * W::SIZE));
        for s in 0..4 {
            let xv: [(v128, v128); T] = core::array::from_fn(|t| (xst[t].v128(32 * s), xst[t].v128(32 * s + 16)));
            for r in 0..R {
                let (w0, w1) = W::w8(wst[r], 8 * s * W::SIZE);
                for t in 0..T {
                    a[r][t].0 = f32x4_add(a[r][t].0, f32x4_mul(w0, xv[t].0));
                    a[r][t].1 = f32x4_add(a[r][t].1, f32x4_mul(w1, xv[t].1));
                }
            }
        }
        i += 32;
    }
    while i < k8 {
        let xv: [(v128, v128); T] = core::array::from_fn(|t| (xr[t].v128(4 * i), xr[t].v128(4 * i + 16)));
        for r in 0..R {
            let (w0, w1) = W::w8(wr[r], i * W::SIZE);
            for t in 0..T {
                a[r][t].0 = f32x4_add(a[r][t].0, f32x4_mul(w0, xv[t].0));
                a[r][t].1 = f32x4_add(a[r][t].1, f32x4_mul(w1, xv[t].1));
            }
        }
        i += 8;
    }
    for r in 0..R {
        for t in 0..T {
            let l0 = f32x4_lanes(a[r][t].0);
            let l1 = f32x4_lanes(a[r][t].1);
            let mut s = [l0[0], l0[1], l0[2], l0[3], l1[0], l1[1], l1[2], l1[3]];
            for j in k8..k {
                s[j & 7] += W::w1(wr[r], j) * xr[t].f32_at(j);
            }
            y.set_f32_at((t0 + t) * dm.n_out + o0 + r, reduce8(s));
        }
    }
}

/// Converts tokens t0..t0+nt of `x` into `xs` as the f32 values this path multiplies.
fn convert_x<W: FloatKind>(x: Mem, xs: Mem, k: usize, t0: usize, nt: usize) {
    for t in 0..nt {
        let xr = x.sub((t0 + t) * k * W::SIZE, k * W::SIZE);
        let dst = xs.sub(t * k * 4, k * 4);
        let mut i = 0;
        while i + 8 <= k {
            let (a, b) = W::x8(xr, i * W::SIZE);
            dst.set_v128(4 * i, a);
            dst.set_v128(4 * i + 16, b);
            i += 8;
        }
        while i < k {
            dst.set_f32_at(i, W::x1(xr, i));
            i += 1;
        }
    }
}

/// Scaled f16 bits (from `f16x8_scaled`) -> the exact f32 value, times 2^112 again when `twice`
/// (activations of the F16 GEMM). f16 inf/NaN (scaled exponent field 31) become f32 inf/NaN with the
/// mantissa kept, as `num::f16_to_f32`.
#[inline(always)]
pub fn f16_unscale(a: v128, twice: bool) -> v128 {
    let scale = f32x4_splat(f16_scale());
    let mag = v128_and(a, i32x4_splat(0x7fff_ffff));
    let special = i32x4_ge(mag, i32x4_splat(0x0f80_0000));
    let mut v = f32x4_mul(a, scale);
    if twice {
        v = f32x4_mul(v, scale);
    }
    let sign = v128_and(a, i32x4_splat(0x8000_0000u32 as i32));
    let inf_nan = v128_or(sign, v128_or(i32x4_splat(0x7f80_0000), v128_and(mag, i32x4_splat(0x007f_ffff))));
    v128_bitselect(inf_nan, v, special)
}

/// Rows per GEMV tile.
const GEMV_ROWS: usize = 4;

/// Float GEMM for rows r0..r1 and every token.
pub fn gemm<W: FloatKind>(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize) {
    let k = dm.k;
    if k == 0 {
        for o in r0..r1 {
            for t in 0..dm.n_tok {
                y.set_f32_at(t * dm.n_out + o, 0.0);
            }
        }
        return;
    }
    let tt = if XS / k >= 4 { 4 } else { XS / k };
    if tt == 0 {
        // Rows longer than the scratch: the scalar twin (same results).
        W::twin(w, x, y, dm, r0, r1);
        return;
    }
    let mut scratch = Scratch::<{ XS * 4 }>::new();
    let xs = scratch.mem();
    let mut t = 0;
    while t < dm.n_tok {
        let nt = if dm.n_tok - t < tt { dm.n_tok - t } else { tt };
        convert_x::<W>(x, xs, k, t, nt);
        let mut o = r0;
        if nt == 1 {
            while o + GEMV_ROWS <= r1 {
                tile::<W, GEMV_ROWS, 1>(w, xs, y, dm, o, t);
                o += GEMV_ROWS;
            }
            while o < r1 {
                tile::<W, 1, 1>(w, xs, y, dm, o, t);
                o += 1;
            }
        } else {
            while o + 2 <= r1 {
                match nt {
                    2 => tile::<W, 2, 2>(w, xs, y, dm, o, t),
                    3 => tile::<W, 2, 3>(w, xs, y, dm, o, t),
                    _ => tile::<W, 2, 4>(w, xs, y, dm, o, t),
                }
                o += 2;
            }
            if o < r1 {
                match nt {
                    2 => tile::<W, 1, 2>(w, xs, y, dm, o, t),
                    3 => tile::<W, 1, 3>(w, xs, y, dm, o, t),
                    _ => tile::<W, 1, 4>(w, xs, y, dm, o, t),
                }
            }
        }
        t += nt;
    }
}

/// `dot8` of two f32 rows of length n (attention scores).
#[inline(always)]
pub fn dot8_f32(a: Mem, b: Mem, n: usize) -> f32 {
    let n8 = n / 8 * 8;
    let mut s0 = f32x4_splat(0.0);
    let mut s1 = f32x4_splat(0.0);
    let mut i = 0;
    while i < n8 {
        s0 = f32x4_add(s0, f32x4_mul(a.v128(4 * i), b.v128(4 * i)));
        s1 = f32x4_add(s1, f32x4_mul(a.v128(4 * i + 16), b.v128(4 * i + 16)));
        i += 8;
    }
    let l0 = f32x4_lanes(s0);
    let l1 = f32x4_lanes(s1);
    let mut s = [l0[0], l0[1], l0[2], l0[3], l1[0], l1[1], l1[2], l1[3]];
    for j in n8..n {
        s[j & 7] += a.f32_at(j) * b.f32_at(j);
    }
    reduce8(s)
}

/// Exact f16 -> f32 of 8 values (get_rows).
#[inline(always)]
pub fn f16x8_to_f32(h: v128) -> (v128, v128) {
    let (a, b) = f16x8_scaled(h);
    (f16_unscale(a, false), f16_unscale(b, false))
}

/// Exact bf16 -> f32 of 8 values (get_rows).
#[inline(always)]
pub fn bf16x8_to_f32(h: v128) -> (v128, v128) {
    bf16x8(h)
}

/// Exact f16 -> f32 of four halves held in the low 16 bits of i32 lanes.
#[inline(always)]
pub fn f16x4_lanes_to_f32(h: v128) -> v128 {
    let sign = i32x4_shl(v128_and(h, i32x4_splat(0x8000)), 16);
    let mag = i32x4_shl(v128_and(h, i32x4_splat(0x7fff)), 13);
    f16_unscale(v128_or(sign, mag), false)
}
