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

/// `exp(x)` of the fast profile: x clamped to [-87, 88] (NaN stays NaN), then ggml's `ggml_v_expf` polynomial
/// (Arm optimized-routines) with every fused step a multiply then an add, `2^n` from the exponent bits.
pub fn exp_fast(x: f32) -> f32 {
    use crate::ggml::*;
    let c = f32::from_bits;
    let x = if x < -87.0 { -87.0 } else { x };
    let x = if 88.0 < x { 88.0 } else { x };
    let z = x * c(EXP_LOG2E) + c(EXP_R);
    let n = z - c(EXP_R);
    let b = -n * c(EXP_LN2_HI) + x;
    let b = -n * c(EXP_LN2_LO) + b;
    let u = b * b;
    let j = (((c(EXP_C5) * b + c(EXP_C4)) * u + (c(EXP_C3) * b + c(EXP_C2))) * u) + (c(EXP_C1) * b + 1.0);
    j * f32::from_bits((z.to_bits() << 23).wrapping_add(0x3f80_0000))
}

/// `fast.attention`, one query head (any head_dim): scores `s_j = dot(k_j, q) * scale` with 16 lanes
/// (`i % 16`) chained in i order, reduced `l = (a_l + a_{4+l}) + (a_{8+l} + a_{12+l})`, then
/// `(l0 + l1) + (l2 + l3)`; `e_j = exp_fast(s_j - max)`; `sum` = 4 lanes (`j % 4`) over `j < n/4*4`, reduced
/// likewise, then the rest in order; `out[d] = (sum_j e_j * v_j[d]) * (1 / sum)`, one chain per d in j order.
pub fn attention_head(q: Mem, k: Mem, v: Mem, out: Mem, e: Mem, p: &crate::scalar::AttnHead) {
    let (hd, n) = (p.head_dim, p.n_kv);
    let red = |a: &[f32; 16]| {
        let l: [f32; 4] = core::array::from_fn(|i| (a[i] + a[4 + i]) + (a[8 + i] + a[12 + i]));
        (l[0] + l[1]) + (l[2] + l[3])
    };
    for j in 0..n {
        let kj = k.sub((j * p.kv_stride + p.kv_off) * 4, hd * 4);
        let mut a = [0.0f32; 16];
        for i in 0..hd {
            a[i % 16] += kj.f32_at(i) * q.f32_at(i);
        }
        e.set_f32_at(j, red(&a) * p.scale);
    }
    let mut mx = f32::NEG_INFINITY;
    for j in 0..n {
        if e.f32_at(j) > mx {
            mx = e.f32_at(j);
        }
    }
    let n4 = n / 4 * 4;
    let mut l = [0.0f32; 4];
    for j in 0..n {
        let x = exp_fast(e.f32_at(j) - mx);
        e.set_f32_at(j, x);
        if j < n4 {
            l[j % 4] += x;
        }
    }
    let mut sum = (l[0] + l[1]) + (l[2] + l[3]);
    for j in n4..n {
        sum += e.f32_at(j);
    }
    let inv = 1.0 / sum;
    for d in 0..hd {
        let mut s = 0.0f32;
        for j in 0..n {
            s += e.f32_at(j) * v.f32_at(j * p.kv_stride + p.kv_off + d);
        }
        out.set_f32_at(d, s * inv);
    }
}

/// `fast.swiglu`: `y = (x / (1 + exp_fast(-x))) * u`.
pub fn swiglu(a: Mem, b: Mem, y: Mem, s: usize, e: usize) {
    for i in s..e {
        let x = a.f32_at(i);
        y.set_f32_at(i, (x / (1.0 + exp_fast(-x))) * b.f32_at(i));
    }
}
