//! `fast` numerics profile: ternary matrix products on the pair layout `TQ2_0x2` (TQ2_0 blocks, rows grouped in
//! pairs, the two rows' blocks interleaved: one weight stream per row pair, see `scalar_fast::x2_block`), with exact
//! integer sums per block (`DotAdd`: `i16x8.relaxed_dot_i8x16_i7x16_s` summed in i16 lanes in the relaxed build).
//!
//! Order (the definition, `scalar_fast::gemm_tq2_0x2`): per 256-block, four integer lanes, lane `g` summing
//! `code(e) * q(e)` over the elements with `(e % 16) / 4 == g` (a 16-byte code vector covers 16 consecutive
//! elements, so this is the i32 lane the dot product puts them in), lane 0 minus the block's sum of `q` (codes
//! are value + 1); then `acc_g = acc_g + f32(lane_g) * d` with `d = f32(x.d * f16(w.d))`, a multiply and an add
//! (no FMA: the same bits in both modules and on every CPU), over the blocks in order;
//! `y = (acc_0 + acc_1) + (acc_2 + acc_3)`.
//!
//! Codes are taken from a 16-byte chunk `q` "masked in place" (GEMV): planes 0 and 1 are `q & 3` = code and `q & 0xc`
//! = code * 4, planes 2 and 3 the same masks of `q >> 4` (5 operations for 4 planes instead of 7), the code * 4
//! planes summed in their own accumulator and shifted back at the end of the block (exact: a sum of multiples of
//! 4). GEMM tiles take the planes shifted down (codes 0..=3, one accumulator per row and token: fewer live
//! registers, the plane extraction shared by the tile's tokens). Measured
//! (kernels-wasm/README.md, fast profile): masked planes +12% on a one-row GEMV, the pair layout +15-30% over one
//! row at a time from DRAM (two separate row streams instead run at a third of the speed there).
//!
//! Per (token, block) the activation side is precomputed once per call (`fill_tab`: d and minus the block sum).
//! Functions that call `DotAdd::acc` carry `_rdot` in their name (see `simd128::relaxed2`).

use super::DotAdd;
use crate::blocks::*;
use crate::num::f16_to_f32;
use crate::scalar::Dims;
use crate::view::Mem;
use core::arch::wasm32::*;

/// Bytes per (token, block) entry of the activation table: f32 d, i32 minus the block's sum of q.
pub const TAB_ENTRY: usize = 8;

/// Fills `tab` (`[nt][nb]` entries) for tokens t0..t0+nt of the Q8_K rows `x`.
pub fn fill_tab(x: Mem, tab: Mem, nb: usize, t0: usize, nt: usize) {
    for t in 0..nt {
        let xr = x.sub((t0 + t) * nb * Q8_K_BYTES, nb * Q8_K_BYTES);
        let tr = tab.sub(t * nb * TAB_ENTRY, nb * TAB_ENTRY);
        for (yb, e) in xr.chunks(Q8_K_BYTES).zip(tr.chunks(TAB_ENTRY)) {
            let s = i16x8_add(yb.v128(Q8_K_BSUMS), yb.v128(Q8_K_BSUMS + 16));
            let q = super::hsum_i32(i32x4_extadd_pairwise_i16x8(s));
            e.set_f32(0, yb.f32(0));
            e.set_u32(4, q.wrapping_neg() as u32);
        }
    }
}

/// Codes of plane `N` as bytes 0..=3 (constant shift: a loop-variable one is scalarized, see ternary.rs).
#[inline(always)]
fn plane<const N: u32>(q: v128) -> v128 {
    let m = u8x16_splat(3);
    if N == 0 {
        v128_and(q, m)
    } else {
        v128_and(u16x8_shr(q, 2 * N), m)
    }
}

/// `acc[r][t][A] += dot(activations of token t at byte off, c[r])`.
#[inline(always)]
fn step<D: DotAdd, const R: usize, const T: usize, const NA: usize, const A: usize>(
    c: &[v128; R],
    yb: &[Mem; T],
    off: usize,
    acc: &mut [[[D::A; NA]; T]; R],
) {
    unroll!(T, t => {
        let y = yb[t].v128(off);
        unroll!(R, r => {
            acc[r][t][A] = D::acc(acc[r][t][A], y, c[r]);
        });
    });
}

/// One TQ2_0 block, masked planes, two accumulators (x1, x4) per (row, token): planes 0 and 1 are `q & 3` and
/// `q & 0xc`, planes 2 and 3 the same masks of `q >> 4`.
#[inline(always)]
fn block_masked<D: DotAdd, const R: usize, const T: usize>(wb: &[Mem; R], yb: &[Mem; T], acc: &mut [[[D::A; 2]; T]; R]) {
    unroll!(4, j => {
        let q: [v128; R] = core::array::from_fn(|r| wb[r].v128(16 * j));
        let off = Q8_K_QS + (j / 2) * 128 + (j % 2) * 16;
        step::<D, R, T, 2, 0>(&core::array::from_fn(|r| v128_and(q[r], u8x16_splat(0x03))), yb, off, acc);
        step::<D, R, T, 2, 1>(&core::array::from_fn(|r| v128_and(q[r], u8x16_splat(0x0c))), yb, off + 32, acc);
        let h: [v128; R] = core::array::from_fn(|r| u16x8_shr(q[r], 4));
        step::<D, R, T, 2, 0>(&core::array::from_fn(|r| v128_and(h[r], u8x16_splat(0x03))), yb, off + 64, acc);
        step::<D, R, T, 2, 1>(&core::array::from_fn(|r| v128_and(h[r], u8x16_splat(0x0c))), yb, off + 96, acc);
    });
}

/// One TQ2_0 block, planes shifted down, one accumulator per (row, token) (fewer live registers in GEMM tiles).
#[inline(always)]
fn block_plain<D: DotAdd, const R: usize, const T: usize>(wb: &[Mem; R], yb: &[Mem; T], acc: &mut [[[D::A; 1]; T]; R]) {
    unroll!(4, j => {
        let q: [v128; R] = core::array::from_fn(|r| wb[r].v128(16 * j));
        let off = Q8_K_QS + (j / 2) * 128 + (j % 2) * 16;
        step::<D, R, T, 1, 0>(&core::array::from_fn(|r| plane::<0>(q[r])), yb, off, acc);
        step::<D, R, T, 1, 0>(&core::array::from_fn(|r| plane::<1>(q[r])), yb, off + 32, acc);
        step::<D, R, T, 1, 0>(&core::array::from_fn(|r| plane::<2>(q[r])), yb, off + 64, acc);
        step::<D, R, T, 1, 0>(&core::array::from_fn(|r| plane::<3>(q[r])), yb, off + 96, acc);
    });
}

/// `(a0 + a1) + (a2 + a3)`.
#[inline(always)]
pub fn hsum4(a: v128) -> f32 {
    let l = super::f32x4_lanes(a);
    (l[0] + l[1]) + (l[2] + l[3])
}

/// `accf + f32(lanes) * d` (multiply, then add).
#[inline(always)]
fn fold(accf: v128, lanes: v128, d: f32) -> v128 {
    f32x4_add(accf, f32x4_mul(f32x4_convert_i32x4(lanes), f32x4_splat(d)))
}

/// Byte offset of row `o`'s data in the pair layout, and the stride between its blocks.
#[inline(always)]
pub fn x2_row(o: usize, n_out: usize, nb: usize, bytes: usize) -> (usize, usize) {
    if o % 2 == 1 || o + 1 < n_out {
        ((o - o % 2) * nb * bytes + (o % 2) * bytes, 2 * bytes)
    } else {
        (o * nb * bytes, bytes)
    }
}

/// GEMV (one token) of rows r0..r1 (r0 even), a row pair per step: one weight stream, shared activation loads.
#[inline(never)]
pub fn gemv_x2_rdot<D: DotAdd>(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize, tab: Mem, t: usize) {
    let nb = dm.k / QK_K;
    let pb = 2 * TQ2_0_BYTES;
    let xr = x.sub(t * nb * Q8_K_BYTES, nb * Q8_K_BYTES);
    let tr = tab.sub(0, nb * TAB_ENTRY);
    let mut o = r0;
    while o + 2 <= r1 {
        let rows = w.sub(o * nb * TQ2_0_BYTES, nb * pb);
        let mut accf = [f32x4_splat(0.0); 2];
        for ((g, yb), e) in rows.chunks(pb).zip(xr.chunks(Q8_K_BYTES)).zip(tr.chunks(TAB_ENTRY)) {
            let wb = [g.sub(0, TQ2_0_BYTES), g.sub(TQ2_0_BYTES, TQ2_0_BYTES)];
            let dx = e.f32(0);
            let lanes = lanes_of::<D, 2, 1>(&wb, &[yb], [e.i32(4)]);
            for r in 0..2 {
                accf[r] = fold(accf[r], lanes[r][0], dx * f16_to_f32(wb[r].u16(TQ2_0_D)));
            }
        }
        y.set_f32_at(t * dm.n_out + o, hsum4(accf[0]));
        y.set_f32_at(t * dm.n_out + o + 1, hsum4(accf[1]));
        o += 2;
    }
    if o < r1 {
        // The last row of an odd row count: stored as plain TQ2_0.
        let row = w.sub(o * nb * TQ2_0_BYTES, nb * TQ2_0_BYTES);
        let mut accf = f32x4_splat(0.0);
        for ((wb, yb), e) in row.chunks(TQ2_0_BYTES).zip(xr.chunks(Q8_K_BYTES)).zip(tr.chunks(TAB_ENTRY)) {
            let lanes = lanes_of::<D, 1, 1>(&[wb], &[yb], [e.i32(4)]);
            accf = fold(accf, lanes[0][0], e.f32(0) * f16_to_f32(wb.u16(TQ2_0_D)));
        }
        y.set_f32_at(t * dm.n_out + o, hsum4(accf));
    }
}

/// Integer lanes of one block for R rows x T tokens (`neg_q[t]`: minus token t's block sum of q, added to lane 0).
#[inline(always)]
fn lanes_of<D: DotAdd, const R: usize, const T: usize>(wb: &[Mem; R], yb: &[Mem; T], neg_q: [i32; T]) -> [[v128; T]; R] {
    if D::MASKED {
        let mut acc: [[[D::A; 2]; T]; R] = [[[D::zero(); 2]; T]; R];
        block_masked::<D, R, T>(wb, yb, &mut acc);
        core::array::from_fn(|r| core::array::from_fn(|t| i32x4_add(D::masked(acc[r][t]), i32x4(neg_q[t], 0, 0, 0))))
    } else {
        lanes_plain::<D, R, T>(wb, yb, neg_q)
    }
}

/// Integer lanes of one block, one accumulator per (row, token) (GEMM tiles).
#[inline(always)]
fn lanes_plain<D: DotAdd, const R: usize, const T: usize>(wb: &[Mem; R], yb: &[Mem; T], neg_q: [i32; T]) -> [[v128; T]; R] {
    let mut acc: [[[D::A; 1]; T]; R] = [[[D::zero(); 1]; T]; R];
    block_plain::<D, R, T>(wb, yb, &mut acc);
    core::array::from_fn(|r| core::array::from_fn(|t| i32x4_add(D::finish(acc[r][t][0]), i32x4(neg_q[t], 0, 0, 0))))
}

/// GEMM tile: R rows (a pair, or the last odd row) x T tokens; `tab` rows start at token `tt0`. The float
/// accumulators live in `af` (R * T f32x4, the caller's stack), loaded and stored once per block: kept in
/// registers next to the R * T integer accumulators they spill anyway (x64 has 16 vector registers), and the
/// explicit version runs 17% fewer instructions (callgrind, 2560 x 512 x 24; T = 6 or 8 tokens: +21%).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn tile_x2_rdot<D: DotAdd, const R: usize, const T: usize>(
    w: Mem,
    x: Mem,
    y: Mem,
    dm: Dims,
    o0: usize,
    t0: usize,
    tab: Mem,
    tt0: usize,
    af: Mem,
) {
    let nb = dm.k / QK_K;
    let (base, stride) = x2_row(o0, dm.n_out, nb, TQ2_0_BYTES);
    let rows = w.sub(base, (nb - 1) * stride + R * TQ2_0_BYTES);
    let xr: [Mem; T] = core::array::from_fn(|t| x.sub((t0 + t) * nb * Q8_K_BYTES, nb * Q8_K_BYTES));
    let tr: [Mem; T] = core::array::from_fn(|t| tab.sub((t0 - tt0 + t) * nb * TAB_ENTRY, nb * TAB_ENTRY));
    let af = af.sub(0, R * T * 16);
    for i in 0..R * T {
        af.set_v128(16 * i, f32x4_splat(0.0));
    }
    for b in 0..nb {
        let g = rows.sub(b * stride, R * TQ2_0_BYTES);
        let wb: [Mem; R] = core::array::from_fn(|r| g.sub(r * TQ2_0_BYTES, TQ2_0_BYTES));
        let yb: [Mem; T] = core::array::from_fn(|t| xr[t].sub(b * Q8_K_BYTES, Q8_K_BYTES));
        let e: [Mem; T] = core::array::from_fn(|t| tr[t].sub(b * TAB_ENTRY, TAB_ENTRY));
        let lanes = lanes_plain::<D, R, T>(&wb, &yb, core::array::from_fn(|t| e[t].i32(4)));
        for r in 0..R {
            let dw = f16_to_f32(wb[r].u16(TQ2_0_D));
            for t in 0..T {
                let at = 16 * (r * T + t);
                af.set_v128(at, fold(af.v128(at), lanes[r][t], e[t].f32(0) * dw));
            }
        }
    }
    for r in 0..R {
        for t in 0..T {
            y.set_f32_at((t0 + t) * dm.n_out + o0 + r, hsum4(af.v128(16 * (r * T + t))));
        }
    }
}

/// Tokens per GEMM tile.
pub const FAST_TOKENS: usize = 4;

/// Rows r0..r1 (r0 even) x tokens t0..t1 of `fast.gemm.tq2_0x2_q8_k` (the table covers tokens from tt0).
pub fn gemm_x2<D: DotAdd>(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize, t0: usize, t1: usize, tab: Mem, tt0: usize) {
    let nb = dm.k / QK_K;
    if t1 - t0 == 1 {
        let tr = tab.sub((t0 - tt0) * nb * TAB_ENTRY, nb * TAB_ENTRY);
        return gemv_x2_rdot::<D>(w, x, y, dm, r0, r1, tr, t0);
    }
    let mut scratch = crate::view::Scratch::<{ 2 * FAST_TOKENS * 16 }>::new();
    let af = scratch.mem();
    let mut t = t0;
    while t < t1 {
        let nt = if t1 - t < FAST_TOKENS { t1 - t } else { FAST_TOKENS };
        match nt {
            1 => rows::<D, 1>(w, x, y, dm, r0, r1, t, tab, tt0, af),
            2 => rows::<D, 2>(w, x, y, dm, r0, r1, t, tab, tt0, af),
            3 => rows::<D, 3>(w, x, y, dm, r0, r1, t, tab, tt0, af),
            _ => rows::<D, FAST_TOKENS>(w, x, y, dm, r0, r1, t, tab, tt0, af),
        }
        t += nt;
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows<D: DotAdd, const T: usize>(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize, t: usize, tab: Mem, tt0: usize, af: Mem) {
    let mut o = r0;
    while o + 2 <= r1 {
        tile_x2_rdot::<D, 2, T>(w, x, y, dm, o, t, tab, tt0, af);
        o += 2;
    }
    if o < r1 {
        tile_x2_rdot::<D, 1, T>(w, x, y, dm, o, t, tab, tt0, af);
    }
}

