//! Ternary x int8 matrix products: TQ2_0 x Q8_K, TQ1_0 x Q8_K, I2_S x I8_S.
//!
//! Float order (TQ): ggml's x86 kernels keep 8 integer lanes per 256-block, lane `p` = the elements `e`
//! with `(e % 32) >> 2 == p` (see `scalar::gemm_ternary`), and 8 f32 lanes `acc_p = fma(lane_p, d, acc_p)`
//! across blocks, summed by `hsum_float_8` at the end. Here a 16-byte code chunk covers 16 consecutive
//! elements with the same `e / 16`, so its byte lanes `4g..4g+3` belong to lane `g` (elements with
//! `e % 32 < 16`) or `4 + g` (`e % 32 >= 16`): the chunks of a block split into a "lo" half (lanes 0..3) and
//! a "hi" half (lanes 4..7), each accumulated in its own integer registers and finished as one i32x4
//! (`TernaryDot::finish`). The FMAs are emulated in f64x2 (`F64Fma`), the accumulators kept as f64.
//!
//! One token (GEMV, `tq_gemv_row`): one weight row at a time, blocks in memory order, so that each thread
//! reads its rows as one sequential stream (see kernels-wasm/README.md: interleaving rows halves a core's
//! DRAM bandwidth here). Several tokens (GEMM, `tq_tile`): tiles of R rows x T tokens in two phases, integer
//! lane sums first (codes extracted once per tile for the T tokens, activations loaded once for the R rows),
//! then the FMA chains. Integer sums of one half-block stay in i16 lanes (at most 16 products of
//! |code * q| <= 381 per lane).

use super::{F64Fma, TernaryDot};
use crate::blocks::*;
use crate::ggml::hsum8;
use crate::num::f16_to_f32;
use crate::scalar::Dims;
use crate::view::{Mem, Scratch};
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

/// Multiplies prepared codes `c[r]` with the 16 activations at byte `off` of every token, into `acc`.
#[inline(always)]
fn step<D: TernaryDot, const R: usize, const T: usize>(c: &[D::C; R], yb: &[Mem; T], off: usize, acc: &mut [[D::A; T]; R]) {
    unroll!(T, t => {
        let y = yb[t].v128(off);
        unroll!(R, r => {
            acc[r][t] = D::acc(acc[r][t], y, c[r]);
        });
    });
}

/// One plane of one 16-byte code chunk for R rows x T tokens: `off` is the byte offset of the 16
/// activations that pair with this plane.
#[inline(always)]
fn plane_step<D: TernaryDot, const N: u32, const R: usize, const T: usize>(
    q: &[v128; R],
    yb: &[Mem; T],
    off: usize,
    acc: &mut [[D::A; T]; R],
) {
    if T == 1 {
        // GEMV: one activation vector; each row's codes are made and used at once (few live registers).
        let y = yb[0].v128(off);
        unroll!(R, r => {
            acc[r][0] = D::acc(acc[r][0], y, D::codes(plane::<N>(q[r])));
        });
        return;
    }
    let c: [D::C; R] = core::array::from_fn(|r| D::codes(plane::<N>(q[r])));
    step::<D, R, T>(&c, yb, off, acc);
}

/// Half `H` of a TQ2_0 block for R rows x T tokens: chunks `j = H` and `H + 2` of qs (16 bytes each; chunk
/// j, plane n covers elements `(j/2)*128 + n*32 + (j%2)*16 + lane`, so `e % 32 >= 16` exactly when j is odd).
#[inline(always)]
fn tq2_half<D: TernaryDot, const H: usize, const R: usize, const T: usize>(wb: &[Mem; R], yb: &[Mem; T]) -> [[D::A; T]; R] {
    let mut acc = [[D::zero(); T]; R];
    for j in [H, H + 2] {
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
pub fn trit(v: v128) -> v128 {
    let v = u8x16_sub_sat(v, u8x16_splat(1));
    let h = u8x16_avgr(v, u8x16_avgr(v, zero()));
    v128_and(u16x8_shr(h, 6), u8x16_splat(3))
}

/// v * 3 (mod 256) per byte: v + 2v, the doubling as a 16-bit shift with the carried bit masked off.
/// (Written with i8x16 adds only, LLVM folds it into an i8 multiply, which wasm lacks, and scalarizes it.)
#[inline(always)]
pub fn times3(v: v128) -> v128 {
    u8x16_add(v, v128_and(i16x8_shl(v, 1), u8x16_splat(0xfe)))
}

/// v * 9 (mod 256) per byte.
#[inline(always)]
pub fn times9(v: v128) -> v128 {
    u8x16_add(v128_and(i16x8_shl(v, 3), u8x16_splat(0xf8)), v)
}

/// The 16 trits of qh[0..4]: lane l*4 + j = trit l of qh[j] (elements 240 + 4l + j, all in the hi half).
#[inline(always)]
pub fn trits_qh(wb: Mem) -> v128 {
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

/// Half `H` of a TQ1_0 block (element layout in `scalar::tq1_0_codes`): qs[0..16] (all trits, elements
/// l*32 + lane: lo), qs[16..32] (l*32 + 16 + lane: hi), qs[32..48] (160 + l*16 + lane: lo for even l, hi
/// for odd l) and qh (hi).
#[inline(always)]
fn tq1_half<D: TernaryDot, const H: usize, const R: usize, const T: usize>(wb: &[Mem; R], yb: &[Mem; T]) -> [[D::A; T]; R] {
    let mut acc = [[D::zero(); T]; R];
    // m[r] = bytes * 3^l (mod 256), advanced by one factor 3 per trit.
    let mut m: [v128; R] = core::array::from_fn(|r| wb[r].v128(16 * H));
    for l in 0..5 {
        let c: [D::C; R] = core::array::from_fn(|r| D::codes(trit(m[r])));
        if l < 4 {
            for mr in m.iter_mut() {
                *mr = times3(*mr);
            }
        }
        step::<D, R, T>(&c, yb, Q8_K_QS + l * 32 + H * 16, &mut acc);
    }
    let mut m: [v128; R] = core::array::from_fn(|r| wb[r].v128(32));
    for l in 0..5 {
        if l % 2 == H {
            let c: [D::C; R] = core::array::from_fn(|r| D::codes(trit(m[r])));
            step::<D, R, T>(&c, yb, Q8_K_QS + 160 + l * 16, &mut acc);
        }
        if l < 4 {
            for mr in m.iter_mut() {
                *mr = times3(*mr);
            }
        }
    }
    if H == 1 {
        let c: [D::C; R] = core::array::from_fn(|r| D::codes(trits_qh(wb[r])));
        step::<D, R, T>(&c, yb, Q8_K_QS + 240, &mut acc);
    }
    acc
}

/// A ternary block format of `gemm_tq` (monomorphized).
pub trait TqFormat {
    /// Bytes per 256-element block.
    const BYTES: usize;
    /// Byte offset of the f16 scale in a block.
    const D_OFF: usize;
    /// Integer accumulators of half `H` (0: lanes 0..3, 1: lanes 4..7) of one block, R rows x T tokens.
    fn half<D: TernaryDot, const H: usize, const R: usize, const T: usize>(wb: &[Mem; R], yb: &[Mem; T]) -> [[D::A; T]; R];
}

/// TQ2_0.
pub struct Tq2;
/// TQ1_0.
pub struct Tq1;

impl TqFormat for Tq2 {
    const BYTES: usize = TQ2_0_BYTES;
    const D_OFF: usize = TQ2_0_D;
    #[inline(always)]
    fn half<D: TernaryDot, const H: usize, const R: usize, const T: usize>(wb: &[Mem; R], yb: &[Mem; T]) -> [[D::A; T]; R] {
        tq2_half::<D, H, R, T>(wb, yb)
    }
}

impl TqFormat for Tq1 {
    const BYTES: usize = TQ1_0_BYTES;
    const D_OFF: usize = TQ1_0_D;
    #[inline(always)]
    fn half<D: TernaryDot, const H: usize, const R: usize, const T: usize>(wb: &[Mem; R], yb: &[Mem; T]) -> [[D::A; T]; R] {
        tq1_half::<D, H, R, T>(wb, yb)
    }
}

/// Q8_K `bsums` of half `H` as i32x4: lane g = bsums[8H + 2g] + bsums[8H + 2g + 1] (elements 32p..32p+31 of
/// lane p = 4H + g), subtracted for the `-1` of the codes (`sum (c-1) q = sum c q - sum q`, per lane as ggml).
#[inline(always)]
fn bsums_half<const H: usize>(yb: Mem) -> v128 {
    i32x4_extadd_pairwise_i16x8(yb.v128(Q8_K_BSUMS + 16 * H))
}

/// Blocks per pass of a GEMM tile (K <= 8192 in one pass; longer rows take several, carrying the float lanes).
const GEMM_BLOCKS: usize = 32;
/// Bytes per (row, token pair, block) record of a tile's scratch: the 8 lane sums of both tokens as 4 x
/// [a_2i, a_2i+1, b_2i, b_2i+1] (i32), then `d` of each token as f64.
const REC: usize = 80;
/// Bytes of a tile's scratch.
const TILE_SCRATCH: usize = GEMM_ROWS * (GEMM_TOKENS + 1) / 2 * GEMM_BLOCKS * REC;

/// GEMM tile: rows o0..o0+R x tokens t0..t0+T, in two phases per pass of up to GEMM_BLOCKS blocks. Phase 1
/// (integer) computes the 8 lane sums of every (row, token, block), with the codes of a row extracted once
/// for the T tokens and each activation vector loaded once for the R rows, and stores them with the block's
/// `d` in the stack scratch `sc`, a token pair per record. Phase 2 (float) runs the 8 FMA chains of a token
/// pair over the blocks (an emulated FMA has ~12 cycles of latency: one output's chains alone would leave the
/// core idle), the accumulators in registers. Interleaving the two phases (R x T x 4 f64 accumulators live
/// across the integer work) spills most of them and ran 25% slower.
#[inline(never)]
fn tq_tile_rdot<F: TqFormat, D: TernaryDot, const R: usize, const T: usize>(w: Mem, x: Mem, y: Mem, dm: Dims, o0: usize, t0: usize, sc: Mem) {
    let nb = dm.k / QK_K;
    let bytes = F::BYTES;
    let np = (T + 1) / 2;
    let mut accf = [[[f64x2_splat(0.0); 4]; T]; R];
    // record of (r, token pair p, block j of the pass)
    let at = |r: usize, p: usize, j: usize| ((r * np + p) * GEMM_BLOCKS + j) * REC;
    let f = F64Fma::new();
    let mut b0 = 0;
    while b0 < nb {
        let n = if nb - b0 > GEMM_BLOCKS { GEMM_BLOCKS } else { nb - b0 };
        for j in 0..n {
            let b = b0 + j;
            let wb: [Mem; R] = core::array::from_fn(|r| w.sub(((o0 + r) * nb + b) * bytes, bytes));
            let yb: [Mem; T] = core::array::from_fn(|t| x.sub(((t0 + t) * nb + b) * Q8_K_BYTES, Q8_K_BYTES));
            let lo = F::half::<D, 0, R, T>(&wb, &yb);
            store_pairs::<D, 0, R, T>(&lo, &yb, sc, |r, p| at(r, p, j));
            let hi = F::half::<D, 1, R, T>(&wb, &yb);
            store_pairs::<D, 1, R, T>(&hi, &yb, sc, |r, p| at(r, p, j));
            for r in 0..R {
                // d = y.d * f16(w.d) (ggml: y[i].d * GGML_CPU_FP16_TO_FP32(x[i].d)), kept as f64.
                let wd = f16_to_f32(wb[r].u16(F::D_OFF));
                for t in 0..T {
                    sc.sub(at(r, t / 2, j) + 64, 16).set_u64(8 * (t % 2), ((yb[t].f32(0) * wd) as f64).to_bits());
                }
            }
        }
        for r in 0..R {
            for p in 0..np {
                let (t, t1) = (2 * p, if 2 * p + 1 < T { 2 * p + 1 } else { 2 * p });
                let (mut a0, mut a1) = (accf[r][t], accf[r][t1]);
                let s = sc.sub(at(r, p, 0), n * REC);
                for j in 0..n {
                    let rec = s.sub(j * REC, REC); // one bounds check; the offsets below are constants
                    let (d0, d1) = (rec.v64_splat(64), rec.v64_splat(72));
                    for i in 0..4 {
                        a0[i] = f.fma(f64x2_convert_low_i32x4(rec.v64(16 * i)), d0, a0[i]);
                        a1[i] = f.fma(f64x2_convert_low_i32x4(rec.v64(16 * i + 8)), d1, a1[i]);
                    }
                }
                accf[r][t1] = a1;
                accf[r][t] = a0;
            }
        }
        b0 += n;
    }
    for r in 0..R {
        for t in 0..T {
            y.set_f32_at((t0 + t) * dm.n_out + o0 + r, hsum8_f64(&accf[r][t]));
        }
    }
}

/// Finishes half `H` of every (row, token) (lane sums minus the bsums) and stores two tokens' lanes
/// interleaved into the record at `at(r, pair)` (a last unpaired token is paired with itself).
#[inline(always)]
fn store_pairs<D: TernaryDot, const H: usize, const R: usize, const T: usize>(
    acc: &[[D::A; T]; R],
    yb: &[Mem; T],
    sc: Mem,
    at: impl Fn(usize, usize) -> usize,
) {
    let bs: [v128; T] = core::array::from_fn(|t| bsums_half::<H>(yb[t]));
    for r in 0..R {
        let mut t = 0;
        while t < T {
            let t1 = if t + 1 < T { t + 1 } else { t };
            let a = i32x4_sub(D::finish(acc[r][t]), bs[t]);
            let b = i32x4_sub(D::finish(acc[r][t1]), bs[t1]);
            let rec = sc.sub(at(r, t / 2) + 32 * H, 32);
            rec.set_v128(0, i32x4_shuffle::<0, 1, 4, 5>(a, b));
            rec.set_v128(16, i32x4_shuffle::<2, 3, 6, 7>(a, b));
            t += 2;
        }
    }
}

/// `acc_p = fma(f32(s_p), d, acc_p)` for the 4 lanes of `s` (i32x4), into `acc[at]` (lanes 0, 1) and
/// `acc[at + 1]` (lanes 2, 3).
#[inline(always)]
fn fma_lanes(f: F64Fma, acc: &mut [v128; 4], at: usize, s: v128, d: v128) {
    let a = f64x2_convert_low_i32x4(s);
    let b = f64x2_convert_low_i32x4(i32x4_shuffle::<2, 3, 2, 3>(s, s));
    acc[at] = f.fma(a, d, acc[at]);
    acc[at + 1] = f.fma(b, d, acc[at + 1]);
}

/// `hsum_float_8` of 8 f32 values held in 4 f64x2 (lanes 0..7 in order).
#[inline(always)]
pub fn hsum8_f64(acc: &[v128; 4]) -> f32 {
    let mut l = [0.0f32; 8];
    for i in 0..4 {
        l[2 * i] = f64x2_extract_lane::<0>(acc[i]) as f32;
        l[2 * i + 1] = f64x2_extract_lane::<1>(acc[i]) as f32;
    }
    hsum8(&l)
}

/// Per-block data of one Q8_K activation row, computed once per GEMV call: the bsums of both halves and d.
struct RowSums {
    bs: [[v128; 2]; MAX_GEMV_BLOCKS],
    d: [f32; MAX_GEMV_BLOCKS],
}

/// Blocks per row for which `RowSums` is precomputed (K <= 32768); longer rows use the GEMM tiles.
const MAX_GEMV_BLOCKS: usize = 128;

impl RowSums {
    #[inline(always)]
    fn new(x: Mem, t: usize, nb: usize) -> RowSums {
        let mut s = RowSums { bs: [[zero(); 2]; MAX_GEMV_BLOCKS], d: [0.0; MAX_GEMV_BLOCKS] };
        for b in 0..nb {
            let yb = x.sub((t * nb + b) * Q8_K_BYTES, Q8_K_BYTES);
            s.bs[b] = [bsums_half::<0>(yb), bsums_half::<1>(yb)];
            s.d[b] = yb.f32(0);
        }
        s
    }
}

/// GEMV of one weight row `o` against token `t`, blocks in memory order: the weights of a thread's rows are
/// then read as one sequential stream, which the hardware prefetchers follow at full DRAM speed (interleaving
/// even two rows block by block halves a core's streaming bandwidth on these machines; see
/// kernels-wasm/README.md). The 8 float lanes stay in 4 f64x2 registers.
#[inline(never)]
fn tq_gemv_row_rdot<F: TqFormat, D: TernaryDot>(w: Mem, x: Mem, y: Mem, dm: Dims, o: usize, t: usize, rs: &RowSums) {
    let nb = dm.k / QK_K;
    let bytes = F::BYTES;
    let row = w.sub(o * nb * bytes, nb * bytes);
    let f = F64Fma::new();
    let mut acc = [f64x2_splat(0.0); 4];
    for b in 0..nb {
        let wb = [row.sub(b * bytes, bytes)];
        let yb = [x.sub((t * nb + b) * Q8_K_BYTES, Q8_K_BYTES)];
        let d = f64x2_splat((rs.d[b] * f16_to_f32(wb[0].u16(F::D_OFF))) as f64);
        let [bs_lo, bs_hi] = rs.bs[b];
        let lo = F::half::<D, 0, 1, 1>(&wb, &yb);
        fma_lanes(f, &mut acc, 0, i32x4_sub(D::finish(lo[0][0]), bs_lo), d);
        let hi = F::half::<D, 1, 1, 1>(&wb, &yb);
        fma_lanes(f, &mut acc, 2, i32x4_sub(D::finish(hi[0][0]), bs_hi), d);
    }
    y.set_f32_at(t * dm.n_out + o, hsum8_f64(&acc));
}

/// Rows per GEMM tile (with up to 4 tokens).
const GEMM_ROWS: usize = 3;
/// Tokens per GEMM tile.
const GEMM_TOKENS: usize = 4;

/// TQ x Q8_K for rows r0..r1 and every token.
pub fn gemm_tq<F: TqFormat, D: TernaryDot>(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize) {
    if dm.n_tok == 1 && dm.k / QK_K <= MAX_GEMV_BLOCKS {
        let rs = RowSums::new(x, 0, dm.k / QK_K);
        for o in r0..r1 {
            tq_gemv_row_rdot::<F, D>(w, x, y, dm, o, 0, &rs);
        }
        return;
    }
    let mut scratch = Scratch::<TILE_SCRATCH>::new();
    let sc = scratch.mem();
    let mut t = 0;
    while t < dm.n_tok {
        match dm.n_tok - t {
            1 => tq_rows::<F, D, GEMM_ROWS, 1>(w, x, y, dm, r0, r1, t, sc),
            2 => tq_rows::<F, D, GEMM_ROWS, 2>(w, x, y, dm, r0, r1, t, sc),
            3 if GEMM_TOKENS > 3 => tq_rows::<F, D, GEMM_ROWS, 3>(w, x, y, dm, r0, r1, t, sc),
            4 if GEMM_TOKENS > 4 => tq_rows::<F, D, GEMM_ROWS, 4>(w, x, y, dm, r0, r1, t, sc),
            5 if GEMM_TOKENS > 5 => tq_rows::<F, D, GEMM_ROWS, 5>(w, x, y, dm, r0, r1, t, sc),
            _ => tq_rows::<F, D, GEMM_ROWS, GEMM_TOKENS>(w, x, y, dm, r0, r1, t, sc),
        }
        t += GEMM_TOKENS;
    }
}

/// Rows r0..r1 of tokens t..t+T: tiles of RM rows, then single rows.
#[inline(always)]
fn tq_rows<F: TqFormat, D: TernaryDot, const RM: usize, const T: usize>(w: Mem, x: Mem, y: Mem, dm: Dims, r0: usize, r1: usize, t: usize, sc: Mem) {
    let mut o = r0;
    while o + RM <= r1 {
        tq_tile_rdot::<F, D, RM, T>(w, x, y, dm, o, t, sc);
        o += RM;
    }
    while o < r1 {
        tq_tile_rdot::<F, D, 1, T>(w, x, y, dm, o, t, sc);
        o += 1;
    }
}

// ---------------------------------------------------------------------------------------------------
// I2_S x I8_S

/// I2_S tile: rows o0..o0+R, tokens t0..t0+T. Per 128-element block the i16 sums are widened into i32.
#[inline(never)]
fn i2_s_tile_rdot<D: TernaryDot, const R: usize, const T: usize>(w: Mem, x: Mem, y: Mem, dm: Dims, o0: usize, t0: usize) {
    let k = dm.k;
    let nb = k / QK_I2_S;
    let stride = k + I8_S_ROW_EXTRA;
    let w_scale = w.f32(dm.n_out * k / 4);
    let mut acc32 = [[zero(); T]; R];
    let xr: [Mem; T] = core::array::from_fn(|t| x.sub((t0 + t) * stride, stride));
    for b in 0..nb {
        let wb: [Mem; R] = core::array::from_fn(|r| w.sub((o0 + r) * (k / 4) + b * I2_S_BLOCK_BYTES, I2_S_BLOCK_BYTES));
        let mut acc = [[D::zero(); T]; R];
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
                acc32[r][t] = i32x4_add(acc32[r][t], D::finish(acc[r][t]));
            }
        }
    }
    for r in 0..R {
        for t in 0..T {
            let sumi = super::hsum_i32(acc32[r][t]);
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
                i2_s_tile_rdot::<D, 8, 1>(w, x, y, dm, o, t);
                o += 8;
            }
            while o + 4 <= r1 {
                i2_s_tile_rdot::<D, 4, 1>(w, x, y, dm, o, t);
                o += 4;
            }
            while o < r1 {
                i2_s_tile_rdot::<D, 1, 1>(w, x, y, dm, o, t);
                o += 1;
            }
            t += 1;
            continue;
        }
        while o + 2 <= r1 {
            match nt {
                2 => i2_s_tile_rdot::<D, 2, 2>(w, x, y, dm, o, t),
                3 => i2_s_tile_rdot::<D, 2, 3>(w, x, y, dm, o, t),
                _ => i2_s_tile_rdot::<D, 2, 4>(w, x, y, dm, o, t),
            }
            o += 2;
        }
        if o < r1 {
            match nt {
                2 => i2_s_tile_rdot::<D, 1, 2>(w, x, y, dm, o, t),
                3 => i2_s_tile_rdot::<D, 1, 3>(w, x, y, dm, o, t),
                _ => i2_s_tile_rdot::<D, 1, 4>(w, x, y, dm, o, t),
            }
        }
        t += 4;
    }
}
