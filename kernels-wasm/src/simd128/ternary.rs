//! Ternary x int8 matrix products: TQ2_0 x Q8_K, TQ1_0 x Q8_K, I2_S x I8_S.
//!
//! Tiling: a tile is R weight rows x T tokens. Each weight block is loaded and its codes extracted once
//! per tile and used for all T tokens; each activation vector is loaded once per tile and used for all R
//! rows. Integer sums of one block stay in i16x8 lanes (at most 16 x 512 = 8192 per lane), then are
//! widened and reduced. Float work per block and output is the scalar twin's, in block order:
//! `acc += f32(sumi) * d`. GEMV tiles (T = 1) keep 4 rows in the lanes of one f32x4; GEMM tiles keep
//! up to 4 tokens of one row in the lanes.

use super::float::f16x4_lanes_to_f32;
use super::{f32x4_from, f32x4_lanes, hsum4_i32, hsum_i32, TernaryDot};
use crate::blocks::*;
use crate::num::f16_to_f32;
use crate::scalar::Dims;
use crate::view::Mem;
use core::arch::wasm32::*;

#[inline(always)]
fn zero() -> v128 {
    i32x4_splat(0)
}

/// Codes of plane `N` (bits 2N..2N+1 of each byte) as bytes 0..=3. The shift is a constant: with a
/// loop-variable shift LLVM may build a per-lane shift vector and scalarize it.
#[inline(always)]
fn plane<const N: u32>(q: v128) -> v128 {
    let m = u8x16_splat(3);
    if N == 0 {
        v128_and(q, m)
    } else {
        v128_and(u16x8_shr(q, 2 * N), m)
    }
}

/// One plane of one 16-byte code chunk for R rows x T tokens: `y_off(t)` is the byte offset of the 16
/// activations of token t that pair with this plane.
#[inline(always)]
fn plane_step<D: TernaryDot, const N: u32, const R: usize, const T: usize>(
    q: &[v128; R],
    yb: &[Mem; T],
    off: usize,
    acc: &mut [[v128; T]; R],
) {
    if T == 1 {
        // GEMV: one activation vector; each row's codes are made and used at once (few live registers).
        let y = D::acts(yb[0].v128(off));
        for r in 0..R {
            acc[r][0] = D::acc(acc[r][0], y, D::codes(plane::<N>(q[r])));
        }
        return;
    }
    let c: [D::C; R] = core::array::from_fn(|r| D::codes(plane::<N>(q[r])));
    for t in 0..T {
        let y = D::acts(yb[t].v128(off));
        for r in 0..R {
            acc[r][t] = D::acc(acc[r][t], y, c[r]);
        }
    }
}

/// sum(bsums) of a Q8_K block as 4 partial i32 lanes (the -1 of the ternary codes: sum (c-1) q = sum c q - sum q).
#[inline(always)]
fn q8_k_qsum_partial(yb: Mem) -> v128 {
    let s = i16x8_add(yb.v128(Q8_K_BSUMS), yb.v128(Q8_K_BSUMS + 16));
    i32x4_extadd_pairwise_i16x8(s)
}

/// i16 block accumulators of a TQ2_0 block for R rows x T tokens: sum over the block of code * q.
#[inline(always)]
fn tq2_block<D: TernaryDot, const R: usize, const T: usize>(wb: &[Mem; R], yb: &[Mem; T]) -> [[v128; T]; R] {
    let mut acc = [[zero(); T]; R];
    for j in 0..4 {
        // Bytes 16j..16j+16 of qs: half h = j/2, elements h*128 + n*32 + (j%2)*16 + lane for plane n.
        let q: [v128; R] = core::array::from_fn(|r| wb[r].v128(16 * j));
        let off = Q8_K_QS + (j / 2) * 128 + (j % 2) * 16;
        plane_step::<D, 0, R, T>(&q, yb, off, &mut acc);
        plane_step::<D, 1, R, T>(&q, yb, off + 32, &mut acc);
        plane_step::<D, 2, R, T>(&q, yb, off + 64, &mut acc);
        plane_step::<D, 3, R, T>(&q, yb, off + 96, &mut acc);
    }
    acc
}

/// 16 TQ1_0 trits (0..=2) from 16 bytes already multiplied by 3^n (mod 256): top 2 bits of 3*v,
/// computed as in ggml's AVX2 kernel (ggml-cpu/arch/x86/quants.c:1400-1420) with averaging adds.
#[inline(always)]
fn trit(v: v128) -> v128 {
    let v = u8x16_sub_sat(v, u8x16_splat(1));
    let h = u8x16_avgr(v, u8x16_avgr(v, zero()));
    v128_and(u16x8_shr(h, 6), u8x16_splat(3))
}

/// v * 9 (mod 256) per byte.
#[inline(always)]
fn times9(v: v128) -> v128 {
    u8x16_add(v128_and(i16x8_shl(v, 3), u8x16_splat(0xf8)), v)
}

/// The 16 trits of qh[0..4]: lane l*4 + j = trit l of qh[j] (elements 240..256).
#[inline(always)]
fn trits_qh(wb: Mem) -> v128 {
    let q = u32x4_splat(wb.u32(TQ1_0_QH));
    let m1 = times3(q);
    let t0 = trit(q);
    let t1 = trit(m1);
    let t2 = trit(times9(q));
    let t3 = trit(times9(m1));
    let t01 = i32x4_shuffle::<0, 5, 2, 3>(t0, t1);
    let t23 = i32x4_shuffle::<0, 1, 2, 7>(t2, t3);
    i32x4_shuffle::<0, 1, 6, 7>(t01, t23)
}

/// v * 3 (mod 256) per byte: v + 2v, the doubling as a 16-bit shift with the carried bit masked off.
/// (Written with i8x16 adds only, LLVM folds it into an i8 multiply, which wasm lacks, and scalarizes it.)
#[inline(always)]
fn times3(v: v128) -> v128 {
    u8x16_add(v, v128_and(i16x8_shl(v, 1), u8x16_splat(0xfe)))
}

/// i16 block accumulators of a TQ1_0 block (elements as in `scalar::tq1_0_block_sum`).
#[inline(always)]
fn tq1_block<D: TernaryDot, const R: usize, const T: usize>(wb: &[Mem; R], yb: &[Mem; T]) -> [[v128; T]; R] {
    let mut acc = [[zero(); T]; R];
    // qs[0..32]: two chunks of 16 bytes, trit l of byte m -> element l*32 + m.
    // qs[32..48]: trit l of byte m -> element 160 + l*16 + m.
    for ch in 0..3 {
        // m[r] = bytes * 3^l (mod 256), advanced by one factor 3 per trit.
        let mut m: [v128; R] = core::array::from_fn(|r| wb[r].v128(16 * ch));
        for l in 0..5 {
            let c: [D::C; R] = core::array::from_fn(|r| D::codes(trit(m[r])));
            if l < 4 {
                for mr in m.iter_mut() {
                    *mr = times3(*mr);
                }
            }
            let off = if ch < 2 { l * 32 + ch * 16 } else { 160 + l * 16 };
            for t in 0..T {
                let y = D::acts(yb[t].v128(Q8_K_QS + off));
                for r in 0..R {
                    acc[r][t] = D::acc(acc[r][t], y, c[r]);
                }
            }
        }
    }
    let c: [D::C; R] = core::array::from_fn(|r| D::codes(trits_qh(wb[r])));
    for t in 0..T {
        let y = D::acts(yb[t].v128(Q8_K_QS + 240));
        for r in 0..R {
            acc[r][t] = D::acc(acc[r][t], y, c[r]);
        }
    }
    acc
}

/// A ternary block format of `gemm_tq` (monomorphized).
pub trait TqFormat {
    /// Bytes per 256-element block.
    const BYTES: usize;
    /// Byte offset of the f16 scale in a block.
    const D_OFF: usize;
    /// i16 accumulators of one block for R rows x T tokens.
    fn block<D: TernaryDot, const R: usize, const T: usize>(wb: &[Mem; R], yb: &[Mem; T]) -> [[v128; T]; R];
}

/// TQ2_0.
pub struct Tq2;
/// TQ1_0.
pub struct Tq1;

impl TqFormat for Tq2 {
    const BYTES: usize = TQ2_0_BYTES;
    const D_OFF: usize = TQ2_0_D;
    #[inline(always)]
    fn block<D: TernaryDot, const R: usize, const T: usize>(wb: &[Mem; R], yb: &[Mem; T]) -> [[v128; T]; R] {
        tq2_block::<D, R, T>(wb, yb)
    }
}

impl TqFormat for Tq1 {
    const BYTES: usize = TQ1_0_BYTES;
    const D_OFF: usize = TQ1_0_D;
    #[inline(always)]
    fn block<D: TernaryDot, const R: usize, const T: usize>(wb: &[Mem; R], yb: &[Mem; T]) -> [[v128; T]; R] {
        tq1_block::<D, R, T>(wb, yb)
    }
}

/// GEMM tile: rows o0..o0+R, tokens t0..t0+T (T <= 4, tokens in the lanes).
#[inline(never)]
fn tq_tile_tokens<F: TqFormat, D: TernaryDot, const R: usize, const T: usize>(w: Mem, x: Mem, y: Mem, dm: Dims, o0: usize, t0: usize) {
    let nb = dm.k / QK_K;
    let bytes = F::BYTES;
    let mut accf = [f32x4_splat(0.0); R];
    for b in 0..nb {
        let wb: [Mem; R] = core::array::from_fn(|r| w.sub(((o0 + r) * nb + b) * bytes, bytes));
        let yb: [Mem; T] = core::array::from_fn(|t| x.sub(((t0 + t) * nb + b) * Q8_K_BYTES, Q8_K_BYTES));
        let acc = F::block::<D, R, T>(&wb, &yb);
        let mut qs = [zero(); 4];
        let mut yd = [0.0f32; 4];
        for t in 0..T {
            qs[t] = q8_k_qsum_partial(yb[t]);
            yd[t] = yb[t].f32(0);
        }
        let qsum = hsum4_i32(qs[0], qs[1], qs[2], qs[3]);
        let yd = f32x4_from(yd);
        for r in 0..R {
            let mut p = [zero(); 4];
            for t in 0..T {
                p[t] = i32x4_extadd_pairwise_i16x8(acc[r][t]);
            }
            let sumi = i32x4_sub(hsum4_i32(p[0], p[1], p[2], p[3]), qsum);
            // d = y.d * f16(w.d) (TQ2_0) or f16(w.d) * y.d (TQ1_0): the same product.
            let d = f32x4_mul(yd, f32x4_splat(f16_to_f32(wb[r].u16(F::D_OFF))));
            accf[r] = f32x4_add(accf[r], f32x4_mul(f32x4_convert_i32x4(sumi), d));
        }
    }
    for r in 0..R {
        let l = f32x4_lanes(accf[r]);
        for t in 0..T {
            y.set_f32_at((t0 + t) * dm.n_out + o0 + r, l[t]);
        }
    }
}

/// Per-block data of one Q8_K activation row, computed once per call: sum(q) and d of each block.
struct RowSums {
    qsum: [i32; MAX_GEMV_BLOCKS],
    d: [f32; MAX_GEMV_BLOCKS],
}

/// Blocks per row for which `RowSums` is precomputed (K <= 32768); longer rows use the GEMM tiles.
const MAX_GEMV_BLOCKS: usize = 128;

impl RowSums {
    fn new(x: Mem, t: usize, nb: usize) -> RowSums {
        let mut s = RowSums { qsum: [0; MAX_GEMV_BLOCKS], d: [0.0; MAX_GEMV_BLOCKS] };
        for b in 0..nb {
            let yb = x.sub((t * nb + b) * Q8_K_BYTES, Q8_K_BYTES);
            s.qsum[b] = hsum_i32(q8_k_qsum_partial(yb));
            s.d[b] = yb.f32(0);
        }
        s
    }
}

/// GEMV tile: rows o0..o0+4*G of token t (rows in the lanes).
#[inline(never)]
fn tq_tile_rows<F: TqFormat, D: TernaryDot, const R: usize, const G: usize>(w: Mem, x: Mem, y: Mem, dm: Dims, o0: usize, t: usize, rs: &RowSums) {
    let nb = dm.k / QK_K;
    let bytes = F::BYTES;
    let mut accf = [f32x4_splat(0.0); G];
    for b in 0..nb {
        let wb: [Mem; R] = core::array::from_fn(|r| w.sub(((o0 + r) * nb + b) * bytes, bytes));
        let yb = [x.sub((t * nb + b) * Q8_K_BYTES, Q8_K_BYTES)];
        let acc = F::block::<D, R, 1>(&wb, &yb);
        let qsum = i32x4_splat(rs.qsum[b]);
        let yd = f32x4_splat(rs.d[b]);
        for g in 0..G {
            let p: [v128; 4] = core::array::from_fn(|i| i32x4_extadd_pairwise_i16x8(acc[4 * g + i][0]));
            let sumi = i32x4_sub(hsum4_i32(p[0], p[1], p[2], p[3]), qsum);
            let h = i32x4(
                wb[4 * g].u16(F::D_OFF) as i32,
                wb[4 * g + 1].u16(F::D_OFF) as i32,
                wb[4 * g + 2].u16(F::D_OFF) as i32,
                wb[4 * g + 3].u16(F::D_OFF) as i32,
            );
            let d = f32x4_mul(yd, f16x4_lanes_to_f32(h));
            accf[g] = f32x4_add(accf[g], f32x4_mul(f32x4_convert_i32x4(sumi), d));
        }
    }
    for g in 0..G {
        let l = f32x4_lanes(accf[g]);
        for i in 0..4 {
            y.set_f32_at(t * dm.n_out + o0 + 4 * g + i, l[i]);
        }
    }
}

/// TQ x Q8_K for rows r0..r1 and every token.
pub fn gemm_tq<F: TqFormat, D: TernaryDot>(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize) {
    if dm.n_tok == 1 && dm.k / QK_K <= MAX_GEMV_BLOCKS {
        let rs = RowSums::new(x, 0, dm.k / QK_K);
        let mut o = r0;
        while o + 8 <= r1 {
            tq_tile_rows::<F, D, 8, 2>(w, x, y, dm, o, 0, &rs);
            o += 8;
        }
        while o + 4 <= r1 {
            tq_tile_rows::<F, D, 4, 1>(w, x, y, dm, o, 0, &rs);
            o += 4;
        }
        while o < r1 {
            tq_tile_tokens::<F, D, 1, 1>(w, x, y, dm, o, 0);
            o += 1;
        }
        return;
    }
    let mut t = 0;
    while t < dm.n_tok {
        match dm.n_tok - t {
            1 => tq_rows::<F, D, GEMM_ROWS, 1>(w, x, y, dm, r0, r1, t),
            2 => tq_rows::<F, D, GEMM_ROWS, 2>(w, x, y, dm, r0, r1, t),
            3 => tq_rows::<F, D, GEMM_ROWS, 3>(w, x, y, dm, r0, r1, t),
            _ => tq_rows::<F, D, GEMM_ROWS, 4>(w, x, y, dm, r0, r1, t),
        }
        t += 4;
    }
}

/// Rows per GEMM tile (with up to 4 tokens in the lanes).
const GEMM_ROWS: usize = 3;

/// Rows r0..r1 of tokens t..t+T: tiles of RM rows, then single rows.
#[inline(always)]
fn tq_rows<F: TqFormat, D: TernaryDot, const RM: usize, const T: usize>(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize, t: usize) {
    let mut o = r0;
    while o + RM <= r1 {
        tq_tile_tokens::<F, D, RM, T>(w, x, y, dm, o, t);
        o += RM;
    }
    while o < r1 {
        tq_tile_tokens::<F, D, 1, T>(w, x, y, dm, o, t);
        o += 1;
    }
}

// ---------------------------------------------------------------------------------------------------
// I2_S x I8_S

/// I2_S tile: rows o0..o0+R, tokens t0..t0+T. Per 128-element block the i16 sums are widened into i32.
#[inline(never)]
fn i2_s_tile<D: TernaryDot, const R: usize, const T: usize>(w: Mem, x: Mem, y: Mem, dm: Dims, o0: usize, t0: usize) {
    let k = dm.k;
    let nb = k / QK_I2_S;
    let stride = k + I8_S_ROW_EXTRA;
    let w_scale = w.f32(dm.n_out * k / 4);
    let mut acc32 = [[zero(); T]; R];
    let xr: [Mem; T] = core::array::from_fn(|t| x.sub((t0 + t) * stride, stride));
    for b in 0..nb {
        let wb: [Mem; R] = core::array::from_fn(|r| w.sub((o0 + r) * (k / 4) + b * I2_S_BLOCK_BYTES, I2_S_BLOCK_BYTES));
        let mut acc = [[zero(); T]; R];
        for j in 0..2 {
            let q: [v128; R] = core::array::from_fn(|r| wb[r].v128(16 * j));
            // Element p*32 + j*16 + lane of the block sits in bits [7-2p : 6-2p], i.e. code plane 3 - p.
            let off = b * QK_I2_S + j * 16;
            plane_step::<D, 3, R, T>(&q, &xr, off, &mut acc);
            plane_step::<D, 2, R, T>(&q, &xr, off + 32, &mut acc);
            plane_step::<D, 1, R, T>(&q, &xr, off + 64, &mut acc);
            plane_step::<D, 0, R, T>(&q, &xr, off + 96, &mut acc);
        }
        for r in 0..R {
            for t in 0..T {
                acc32[r][t] = i32x4_add(acc32[r][t], i32x4_extadd_pairwise_i16x8(acc[r][t]));
            }
        }
    }
    for r in 0..R {
        for t in 0..T {
            let sumi = hsum_i32(acc32[r][t]);
            let v = (sumi - xr[t].i32(k + 4)) as f32 / xr[t].f32(k) * w_scale;
            y.set_f32_at((t0 + t) * dm.n_out + o0 + r, v);
        }
    }
}

/// I2_S x I8_S for rows r0..r1 and every token.
pub fn gemm_i2_s<D: TernaryDot>(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize) {
    let mut t = 0;
    while t < dm.n_tok {
        let nt = dm.n_tok - t;
        let mut o = r0;
        if nt == 1 {
            while o + 8 <= r1 {
                i2_s_tile::<D, 8, 1>(w, x, y, dm, o, t);
                o += 8;
            }
            while o + 4 <= r1 {
                i2_s_tile::<D, 4, 1>(w, x, y, dm, o, t);
                o += 4;
            }
            while o < r1 {
                i2_s_tile::<D, 1, 1>(w, x, y, dm, o, t);
                o += 1;
            }
            t += 1;
            continue;
        }
        while o + 2 <= r1 {
            match nt {
                2 => i2_s_tile::<D, 2, 2>(w, x, y, dm, o, t),
                3 => i2_s_tile::<D, 2, 3>(w, x, y, dm, o, t),
                _ => i2_s_tile::<D, 2, 4>(w, x, y, dm, o, t),
            }
            o += 2;
        }
        if o < r1 {
            match nt {
                2 => i2_s_tile::<D, 1, 2>(w, x, y, dm, o, t),
                3 => i2_s_tile::<D, 1, 3>(w, x, y, dm, o, t),
                _ => i2_s_tile::<D, 1, 4>(w, x, y, dm, o, t),
            }
        }
        t += 4;
    }
}
