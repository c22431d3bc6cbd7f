//! `gemm.i2_s_f32`: I2_S weights times unquantized f32 activations, the matmul of the engine's float
//! activation precision (`activations: "float"`), which parity against a reference that keeps activations in
//! float (ik_llama.cpp on an F32 transcode) compares like with like. bitnet.cpp itself never computes this:
//! its I2_S dot product always quantizes activations per token to int8 (`gemm.i2_s_i8_s`).
//!
//! Semantics (ABI.md "gemm.i2_s_f32"): `y = S * w_scale`, `S = sum over k of (code_k - 1) * x[k]` summed in
//! 16 f32 lanes (lane `k % 16`, each lane in increasing k), the lanes then added as four f32x4 `A0..A3`,
//! `(A0 + A1) + (A2 + A3)`, and the 4 lanes `(v0 + v1) + (v2 + v3)`. A ternary weight times an f32 is exact,
//! so each step rounds once whether or not a multiply-add is fused.
//!
//! Layout: in a 128-weight block of 32 bytes, byte `g` holds elements g, 32+g, 64+g, 96+g in bits 7:6, 5:4,
//! 3:2, 1:0; so the 16 bytes at offset `16 * (q % 2)` shifted right by `6 - 2 * (q / 2)` are the codes of the
//! 16 consecutive elements `16q..16q+15`, one vector load per 16 weights.

use crate::blocks::{I2_S_BLOCK_BYTES, I2_S_TAIL_BYTES, QK_I2_S};
use crate::sched::for_chunks;
use crate::view::Mem;
use core::arch::wasm32::*;

const N: &str = "gemm.i2_s_f32";

/// Code (0, 1, 2) of element `e` of an I2_S row.
#[inline(always)]
fn code(wr: Mem, e: usize) -> u8 {
    let (blk, r) = (e / QK_I2_S, e % QK_I2_S);
    (wr.u8(blk * I2_S_BLOCK_BYTES + r % 32) >> (6 - 2 * (r / 32))) & 3
}

/// The fixed final reduction of the 16 lanes, then the per-tensor scale.
#[inline(always)]
fn finish(acc: &[f32; 16], w_scale: f32) -> f32 {
    let v = |i: usize| (acc[i] + acc[4 + i]) + (acc[8 + i] + acc[12 + i]);
    ((v(0) + v(1)) + (v(2) + v(3))) * w_scale
}

/// Scalar twin: the definition, one element at a time.
fn rows_scalar(w: Mem, x: Mem, y: Mem, n_out: usize, k: usize, n_tok: usize, r0: usize, r1: usize) {
    let w_scale = w.f32(n_out * k / 4);
    for o in r0..r1 {
        let wr = w.sub(o * k / 4, k / 4);
        for t in 0..n_tok {
            let mut acc = [0f32; 16];
            for e in 0..k {
                acc[e % 16] += (code(wr, e) as f32 - 1.0) * x.f32_at(t * k + e);
            }
            y.set_f32_at(t * n_out + o, finish(&acc, w_scale));
        }
    }
}

/// SIMD: 16 codes per load, four f32x4 accumulators (lanes `k % 16`).
fn rows_simd(w: Mem, x: Mem, y: Mem, n_out: usize, k: usize, n_tok: usize, r0: usize, r1: usize) {
    let w_scale = w.f32(n_out * k / 4);
    let three = u8x16_splat(3);
    let (magic, bias) = (u32x4_splat(0x4b00_0000), f32x4_splat(8_388_609.0));
    for o in r0..r1 {
        let wr = w.sub(o * k / 4, k / 4);
        for t in 0..n_tok {
            let xr = x.sub(t * k * 4, k * 4);
            let mut a = [f32x4_splat(0.0); 4];
            for b in 0..k / QK_I2_S {
                let half = [wr.v128(b * I2_S_BLOCK_BYTES), wr.v128(b * I2_S_BLOCK_BYTES + 16)];
                let e0 = b * QK_I2_S;
                // Groups of 16 consecutive elements in increasing k (each lane's chain stays in order); shifts
                // are constants
                // (LLVM 14 scalarizes i8x16 shifts).
                for q in 0..8 {
                    let h = half[q % 2];
                    // 16-bit lane shifts: the mask keeps bits s..s+1 of each byte, whichever byte of the lane.
                    let shifted = match q / 2 {
                        0 => u16x8_shr(h, 6),
                        1 => u16x8_shr(h, 4),
                        2 => u16x8_shr(h, 2),
                        _ => h,
                    };
                    let codes = v128_and(shifted, three);
                    let (lo, hi) = (u16x8_extend_low_u8x16(codes), u16x8_extend_high_u8x16(codes));
                    let c = [
                        u32x4_extend_low_u16x8(lo),
                        u32x4_extend_high_u16x8(lo),
                        u32x4_extend_low_u16x8(hi),
                        u32x4_extend_high_u16x8(hi),
                    ];
                    for j in 0..4 {
                        // code - 1 as f32 without an int-to-float conversion (LLVM 14 scalarizes it on widened
                        // bytes): the bits 0x4b000000 | c are 2^23 + c, exactly; minus 2^23 + 1 is c - 1, exact.
                        let wv = f32x4_sub(v128_or(c[j], magic), bias);
                        a[j] = f32x4_add(a[j], f32x4_mul(wv, xr.v128((e0 + 16 * q + 4 * j) * 4)));
                    }
                }
            }
            let v = f32x4_add(f32x4_add(a[0], a[1]), f32x4_add(a[2], a[3]));
            let l = |i: usize| match i {
                0 => f32x4_extract_lane::<0>(v),
                1 => f32x4_extract_lane::<1>(v),
                2 => f32x4_extract_lane::<2>(v),
                _ => f32x4_extract_lane::<3>(v),
            };
            y.set_f32_at(t * n_out + o, ((l(0) + l(1)) + (l(2) + l(3))) * w_scale);
        }
    }
}

/// Entry of both exports: checks, then output rows split over the threads.
fn gemm(simd: bool, w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32, nth: u32) {
    let (n, kk, nt) = (n_out as usize, k as usize, n_tok as usize);
    if kk % QK_I2_S != 0 {
        panic!("{N}: K = {kk} is not a multiple of the block size {QK_I2_S}. fix: check the tensor shape");
    }
    let wv = Mem::arg(N, "w", w, n as u64 * kk as u64 / 4 + I2_S_TAIL_BYTES as u64);
    let xv = Mem::arg(N, "x", x, nt as u64 * kk as u64 * 4);
    let yv = Mem::arg(N, "y", y, nt as u64 * n as u64 * 4);
    let chunk = ((n / (16 * nth.max(1) as usize)).clamp(8, 256) + 7) / 8 * 8;
    for_chunks(n, chunk, nth, |r0, r1| {
        if simd {
            rows_simd(wv, xv, yv, n, kk, nt, r0, r1)
        } else {
            rows_scalar(wv, xv, yv, n, kk, nt, r0, r1)
        }
    });
}

#[no_mangle]
pub extern "C" fn gemm_i2_s_f32(w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32, _ith: u32, nth: u32) {
    gemm(true, w, x, y, n_out, k, n_tok, nth)
}

#[no_mangle]
pub extern "C" fn gemm_i2_s_f32__scalar(w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32, _ith: u32, nth: u32) {
    gemm(false, w, x, y, n_out, k, n_tok, nth)
}
