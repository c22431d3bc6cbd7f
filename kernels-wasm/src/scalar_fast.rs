//! Scalar twins of the `fast` numerics profile's kernels: the plain definition of each, one output element at a
//! time. The fast kernels are not llama.cpp's order; each defines its own (written here and in
//! `engine/backends/ref_fast.ts`, the reference backend's twins).

use crate::blocks::*;
use crate::num::f16_to_f32;
use crate::scalar::{tq1_0_codes, tq2_0_codes, Dims};
use crate::simd128::fast_float::{dot_twin, FastW};
use crate::view::Mem;

/// Byte offset of block `b` of row `o` in the pair layout TQ2_0x2 (blocks of `bytes` bytes): rows 2p and 2p+1
/// interleave their blocks (`[row 2p block 0][row 2p+1 block 0][row 2p block 1]...`); the last row of an odd
/// row count stays a plain row.
#[inline(always)]
pub fn x2_block(o: usize, b: usize, n_out: usize, nb: usize, bytes: usize) -> usize {
    if o % 2 == 1 || o + 1 < n_out {
        (o - o % 2) * nb * bytes + (2 * b + o % 2) * bytes
    } else {
        (o * nb + b) * bytes
    }
}

/// `fast.gemm.tq2_0x2_q8_k`: TQ2_0x2 weights x Q8_K, fast order: per block four integer lanes (lane g: elements
/// with `(e % 16) / 4 == g`, codes 0..=3 = value + 1), lane 0 minus the block's sum of q; `d = x.d * f16(w.d)`;
/// `acc_g = acc_g + f32(lane_g) * d` (multiply, then add) over the blocks in order;
/// `y = (acc_0 + acc_1) + (acc_2 + acc_3)`.
pub fn gemm_tq2_0x2(w: Mem, x: Mem, y: Mem, dims: Dims, rows: (usize, usize), toks: (usize, usize)) {
    let nb = dims.k / QK_K;
    let mut codes = [0u8; QK_K];
    for o in rows.0..rows.1 {
        for t in toks.0..toks.1 {
            let mut acc = [0.0f32; 4];
            for b in 0..nb {
                let wb = w.sub(x2_block(o, b, dims.n_out, nb, TQ2_0_BYTES), TQ2_0_BYTES);
                let yb = x.sub((t * nb + b) * Q8_K_BYTES, Q8_K_BYTES);
                tq2_0_codes(wb, &mut codes);
                let mut s = [0i32; 4];
                for e in 0..QK_K {
                    let q = yb.i8(Q8_K_QS + e) as i32;
                    s[(e % 16) / 4] += codes[e] as i32 * q;
                    s[0] -= q;
                }
                let d = yb.f32(0) * f16_to_f32(wb.u16(TQ2_0_D));
                for g in 0..4 {
                    acc[g] = acc[g] + s[g] as f32 * d;
                }
            }
            y.set_f32_at(t * dims.n_out + o, (acc[0] + acc[1]) + (acc[2] + acc[3]));
        }
    }
}

/// Packs 256 codes (0..=3, element order) into a TQ2_0 block's qs (ggml-common.h: byte `(e/128)*32 + e%32`,
/// bits `2*((e%128)/32)`).
pub fn pack_tq2_0(codes: &[u8; QK_K], dst: Mem) {
    for i in 0..QK_K / 4 {
        let (h, m) = (i / 32, i % 32);
        let mut v = 0u8;
        for n in 0..4 {
            v |= (codes[h * 128 + n * 32 + m] & 3) << (2 * n);
        }
        dst.set_u8(i, v);
    }
}

/// `fast.repack.tq1_0_tq2_0x2` for rows r0..r1: each TQ1_0 block of `src` becomes the TQ2_0 block with the same
/// codes and scale, at its TQ2_0x2 place in `dst` (lossless: TQ1_0 codes are 0..=2).
pub fn repack_tq1_0(src: Mem, dst: Mem, n_out: usize, k: usize, r0: usize, r1: usize) {
    let nb = k / QK_K;
    let mut codes = [0u8; QK_K];
    for o in r0..r1 {
        for b in 0..nb {
            let sb = src.sub((o * nb + b) * TQ1_0_BYTES, TQ1_0_BYTES);
            let db = dst.sub(x2_block(o, b, n_out, nb, TQ2_0_BYTES), TQ2_0_BYTES);
            tq1_0_codes(sb, &mut codes);
            pack_tq2_0(&codes, db);
            db.set_u16(TQ2_0_D, sb.u16(TQ1_0_D));
        }
    }
}

/// `fast.gemm.f16_f32` / `fast.gemm.bf16_f32` for rows r0..r1 of token t, `xs` the scaled activations
/// (`simd128::fast_float`): 32 lanes (`i % 32`) of multiply-then-add chains, `reduce32`, the tail in order, then
/// times `post`. (The relaxed build fuses each multiply-add where the CPU has FMA.)
#[allow(clippy::too_many_arguments)]
pub fn gemm_float<W: FastW>(w: Mem, xs: Mem, y: Mem, dims: Dims, r0: usize, r1: usize, t: usize, post: f32) {
    let rb = dims.k * W::SIZE;
    for o in r0..r1 {
        let s = dot_twin::<W>(w.sub(o * rb, rb), xs, dims.k);
        y.set_f32_at(t * dims.n_out + o, s * post);
    }
}
