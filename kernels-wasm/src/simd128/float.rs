//! Float matrix products (F16 x F16, BF16 x BF16, F32 x F32) and the f32 dot product of attention scores,
//! in ggml's x86 AVX-512 order (`ggml.rs`):
//!
//! - one token (or a shape llamafile_sgemm rejects): `ggml_vec_dot_f32`'s 64 lanes (lane `i % 64`), reduced
//!   by `reduce64`, then the tail `K % 64` one product at a time;
//! - a batch llamafile_sgemm takes (`ggml::uses_tinyblas`): tinyBLAS's 16 lanes (lane `i % 16`), `reduce16`.
//!
//! Lanes are independent chains, so a tile walks the row several times ("passes"), each pass keeping only
//! `4 * PV` of the lanes in registers (64 lanes are 16 f32x4, more than x64 has registers for); the row
//! stays in L1 between passes. Each lane's chain is still summed in increasing i.
//!
//! F16 x F16 products are exact in f32 (11-bit significands), so ggml's FMA equals a multiply then an add.
//! F16 trick (no F16C in wasm): the weight bits placed in f32 position, `sign | (h & 0x7fff) << 13`, are
//! the weight times 2^-112 exactly (normal and subnormal f16). The activation row is converted once per
//! row chunk to f32 times 2^112 (exact: |x| <= 65504 so x * 2^112 < 2^128). Each product
//! (w * 2^-112) * (x * 2^112) then rounds exactly as w * x, so no per-weight rescale is needed.
//! Caveat: inf/NaN F16 *weights* come out finite here (the activations may be inf/NaN).
//! BF16 products are exact too; F32 products are not, so the F32 path emulates each FMA in f64x2.

use super::{f32x4_lanes, F64Fma};
use crate::ggml::{bf16_uses_tinyblas, uses_tinyblas};
use crate::num::{bf16_to_f32, f16_scale, f16_to_f32};
use crate::scalar::Dims;
use crate::view::{Mem, Scratch};
use core::arch::wasm32::*;

/// Scratch floats per thread for converted activations (64 KiB of the thread's stack).
const XS: usize = 16384;

/// The 8 f16 weights of `h` as two f32x4 of their value times 2^-112 (sign kept).
#[inline(always)]
pub fn f16x8_scaled(h: v128) -> (v128, v128) {
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

/// `fma32(a, b, +0)` on 4 lanes: the f32 product, except that a product that is -0 because an operand is
/// zero becomes +0 (-0 + +0); a product that underflows to -0 stays -0, as in f64.
#[inline(always)]
pub fn fma0_f32x4(a: v128, b: v128) -> v128 {
    let z = f32x4_splat(0.0);
    let p = f32x4_mul(a, b);
    let zero_operand = v128_or(f32x4_eq(a, z), f32x4_eq(b, z));
    v128_andnot(p, v128_and(f32x4_eq(p, z), zero_operand))
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
    /// One lane step `fma(w, x, acc)` on 4 lanes.
    fn mac(f: F64Fma, acc: v128, w: v128, x: v128) -> v128;
    /// The scalar twin, used when a row does not fit the per-thread scratch.
    fn twin(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize);
}

/// F16 x F16.
pub struct F16;
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
    #[inline(always)]
    fn mac(_: F64Fma, acc: v128, w: v128, x: v128) -> v128 {
        // Exact products (11-bit significands): a fused multiply-add rounds once, exactly as the multiply then the
        // add does, so `f32x4.relaxed_madd` (one instruction where the CPU has FMA) gives ggml's bits on every CPU.
        super::madd(w, x, acc)
    }
    fn twin(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize) {
        crate::scalar::gemm_f16_f16(w, x, y, dm, r0, r1)
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
    #[inline(always)]
    fn mac(f: F64Fma, acc: v128, w: v128, x: v128) -> v128 {
        f.fma4(w, x, acc)
    }
    fn twin(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize) {
        crate::scalar::gemm_f32_f32(w, x, y, dm, r0, r1)
    }
}

/// `reduce64` of 64 lanes held as 16 f32x4 (lanes 4m..4m+3 in `a[m]`).
#[inline(always)]
pub fn reduce64_v(a: &[v128; 16]) -> f32 {
    let r: [v128; 4] = core::array::from_fn(|v| f32x4_add(f32x4_add(a[v], a[8 + v]), f32x4_add(a[4 + v], a[12 + v])));
    reduce16_v(&r)
}

/// `reduce16` of 16 lanes held as 4 f32x4.
#[inline(always)]
pub fn reduce16_v(r: &[v128; 4]) -> f32 {
    // t3[i] = r[8+i] + r[i]; t6[i] = t3[4+i] + t3[i]; (t6[0] + t6[2]) + (t6[1] + t6[3]).
    let t6 = f32x4_add(f32x4_add(r[3], r[1]), f32x4_add(r[2], r[0]));
    let l = f32x4_lanes(t6);
    (l[0] + l[2]) + (l[1] + l[3])
}

/// Tile (`_rmadd`: F16's `mac` is `simd128::madd`): rows o0..o0+R x tokens t0..t0+T with LANES (64 or 16) lanes, `PV` f32x4 of them per pass;
/// activations already converted into `xs` (`[T][K]` f32).
#[inline(never)]
fn tile_rmadd<W: FloatKind, const LANES: usize, const PV: usize, const R: usize, const T: usize>(
    w: Mem,
    xs: Mem,
    y: Mem,
    dm: Dims,
    o0: usize,
    t0: usize,
) {
    let k = dm.k;
    let np = k / LANES * LANES;
    let rb = k * W::SIZE;
    let wr: [Mem; R] = core::array::from_fn(|r| w.sub((o0 + r) * rb, rb));
    let xr: [Mem; T] = core::array::from_fn(|t| xs.sub(t * k * 4, k * 4));
    let z = f32x4_splat(0.0);
    let mut lanes = [[[z; 16]; T]; R];
    let f = F64Fma::new();
    let mut pass = 0;
    while pass < LANES / 4 {
        let mut a = [[[z; PV]; T]; R];
        let mut i = pass * 4;
        while i < np {
            let xst: [Mem; T] = core::array::from_fn(|t| xr[t].sub(4 * i, 16 * PV));
            let wst: [Mem; R] = core::array::from_fn(|r| wr[r].sub(i * W::SIZE, 4 * PV * W::SIZE));
            let mut v = 0;
            while v < PV {
                let xv: [(v128, v128); T] = core::array::from_fn(|t| (xst[t].v128(16 * v), xst[t].v128(16 * v + 16)));
                for r in 0..R {
                    let (w0, w1) = W::w8(wst[r], 4 * v * W::SIZE);
                    for t in 0..T {
                        a[r][t][v] = W::mac(f, a[r][t][v], w0, xv[t].0);
                        a[r][t][v + 1] = W::mac(f, a[r][t][v + 1], w1, xv[t].1);
                    }
                }
                v += 2;
            }
            i += LANES;
        }
        for r in 0..R {
            for t in 0..T {
                for v in 0..PV {
                    lanes[r][t][pass + v] = a[r][t][v];
                }
            }
        }
        pass += PV;
    }
    for r in 0..R {
        for t in 0..T {
            let mut s = if LANES == 64 {
                reduce64_v(&lanes[r][t])
            } else {
                reduce16_v(&[lanes[r][t][0], lanes[r][t][1], lanes[r][t][2], lanes[r][t][3]])
            };
            for j in np..k {
                s += W::w1(wr[r], j) * xr[t].f32_at(j);
            }
            y.set_f32_at((t0 + t) * dm.n_out + o0 + r, s);
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

/// Rows per one-token tile and f32x4 lanes per pass (2 passes of 32 lanes). One row at a time: a thread's
/// weights are then read as one sequential stream (interleaving rows halves a core's DRAM bandwidth here);
/// 32 lanes (8 f32x4) fit x64's 16 vector registers, 64 do not. Measured (kernels-wasm/README.md): 12.3
/// GB/s on one thread against 6.2 for 2 rows x 16 lanes and 4.2 for 4 rows x 8 lanes.
const GEMV_ROWS: usize = 1;
const GEMV_PV: usize = 8;

/// Float GEMM (F16 or F32) for rows r0..r1 and every token.
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
    let tb = uses_tinyblas(dm.n_out, k, dm.n_tok);
    let mut scratch = Scratch::<{ XS * 4 }>::new();
    let xs = scratch.mem();
    let mut t = 0;
    while t < dm.n_tok {
        let nt = if dm.n_tok - t < tt { dm.n_tok - t } else { tt };
        convert_x::<W>(x, xs, k, t, nt);
        if !tb {
            // ggml_vec_dot_*: one token at a time.
            for tj in 0..nt {
                let xj = xs.sub(tj * k * 4, k * 4);
                let mut o = r0;
                while o + GEMV_ROWS <= r1 {
                    tile_rmadd::<W, 64, GEMV_PV, GEMV_ROWS, 1>(w, xj, y, dm, o, t + tj);
                    o += GEMV_ROWS;
                }
                while o < r1 {
                    tile_rmadd::<W, 64, GEMV_PV, 1, 1>(w, xj, y, dm, o, t + tj);
                    o += 1;
                }
            }
        } else {
            let mut o = r0;
            while o + 2 <= r1 {
                match nt {
                    1 => tile_rmadd::<W, 16, 2, 2, 1>(w, xs, y, dm, o, t),
                    2 => tile_rmadd::<W, 16, 2, 2, 2>(w, xs, y, dm, o, t),
                    3 => tile_rmadd::<W, 16, 2, 2, 3>(w, xs, y, dm, o, t),
                    _ => tile_rmadd::<W, 16, 2, 2, 4>(w, xs, y, dm, o, t),
                }
                o += 2;
            }
            if o < r1 {
                match nt {
                    1 => tile_rmadd::<W, 16, 2, 1, 1>(w, xs, y, dm, o, t),
                    2 => tile_rmadd::<W, 16, 2, 1, 2>(w, xs, y, dm, o, t),
                    3 => tile_rmadd::<W, 16, 2, 1, 3>(w, xs, y, dm, o, t),
                    _ => tile_rmadd::<W, 16, 2, 1, 4>(w, xs, y, dm, o, t),
                }
            }
        }
        t += nt;
    }
}

/// BF16 x BF16 (see `scalar::gemm_bf16_bf16`). A u32 lane of a bf16 row holds the pair (2l, 2l+1): the odd
/// element is `lane & 0xffff0000` as f32 and the even one `lane << 16`, so each 16 bytes give the odd and the
/// even values of 4 consecutive pairs, which are exactly 4 lanes of ggml's `vdpbf16ps` accumulator.
pub fn gemm_bf16(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize) {
    let k = dm.k;
    let k64 = k / 64 * 64;
    let hi = i32x4_splat(0xffff_0000u32 as i32);
    let tb = bf16_uses_tinyblas(dm.n_out, k, dm.n_tok);
    for o in r0..r1 {
        let wr = w.sub(o * k * 2, k * 2);
        for t in 0..dm.n_tok {
            let xr = x.sub(t * k * 2, k * 2);
            let z = f32x4_splat(0.0);
            let mut c = [z; 8]; // c1 = c[0..4], c2 = c[4..8]
            if tb {
                // tinyBLAS: one 16-lane accumulator over 32-element chunks.
                let mut i = 0;
                while i < k {
                    let (ws, xs) = (wr.sub(2 * i, 64), xr.sub(2 * i, 64));
                    for m in 0..4 {
                        let (wv, xv) = (ws.v128(16 * m), xs.v128(16 * m));
                        let odd = f32x4_mul(v128_and(wv, hi), v128_and(xv, hi));
                        let even = f32x4_mul(i32x4_shl(wv, 16), i32x4_shl(xv, 16));
                        c[m] = f32x4_add(f32x4_add(c[m], odd), even);
                    }
                    i += 32;
                }
                y.set_f32_at(t * dm.n_out + o, reduce16_v(&[c[0], c[1], c[2], c[3]]));
                continue;
            }
            let mut i = 0;
            while i < k64 {
                let ws = wr.sub(2 * i, 128);
                let xs = xr.sub(2 * i, 128);
                for m in 0..8 {
                    let (wv, xv) = (ws.v128(16 * m), xs.v128(16 * m));
                    let odd = f32x4_mul(v128_and(wv, hi), v128_and(xv, hi));
                    let even = f32x4_mul(i32x4_shl(wv, 16), i32x4_shl(xv, 16));
                    c[m] = f32x4_add(f32x4_add(c[m], odd), even);
                }
                i += 64;
            }
            let mut sum = reduce16_v(&[c[0], c[1], c[2], c[3]]) as f64 + reduce16_v(&[c[4], c[5], c[6], c[7]]) as f64;
            while i < k {
                sum += (bf16_to_f32(wr.u16(2 * i)) * bf16_to_f32(xr.u16(2 * i))) as f64;
                i += 1;
            }
            y.set_f32_at(t * dm.n_out + o, sum as f32);
        }
    }
}

/// `ggml_vec_dot_f32(n, a, b)` of two f32 rows (attention scores), FMAs emulated in f64: the 64 lanes in two
/// passes of 32 (8 f32x4 in registers), the first 64 products with `fma0_f32x4`.
#[inline(always)]
pub fn vec_dot_f32(a: Mem, b: Mem, n: usize) -> f32 {
    let np = n / 64 * 64;
    let mut lanes = [f32x4_splat(0.0); 16];
    let f = F64Fma::new();
    if np > 0 {
        for half in 0..2 {
            let (a0, b0) = (a.sub(128 * half, 128), b.sub(128 * half, 128));
            let mut acc: [v128; 8] = core::array::from_fn(|m| fma0_f32x4(a0.v128(16 * m), b0.v128(16 * m)));
            let mut i = 64;
            while i < np {
                let (ai, bi) = (a.sub(4 * i + 128 * half, 128), b.sub(4 * i + 128 * half, 128));
                for m in 0..8 {
                    acc[m] = f.fma4(ai.v128(16 * m), bi.v128(16 * m), acc[m]);
                }
                i += 64;
            }
            lanes[8 * half..8 * half + 8].copy_from_slice(&acc);
        }
    }
    let mut sum = reduce64_v(&lanes);
    for i in np..n {
        sum += a.f32_at(i) * b.f32_at(i);
    }
    sum
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
