//! Scalar twins: the plain definition of every kernel, one output element at a time, in the order of
//! accumulation that the SIMD kernels reproduce exactly. Sources are cited per function (llama.cpp
//! v0.5.0 paths relative to `ggml/src/`).
//!
//! Shape letters: K = elements per row (ne0), O = output rows (n_out), T = tokens (n_tok).
//! Every float operation follows llama.cpp's x86 AVX-512 CPU build (lane layouts, FMA contractions,
//! reduction trees: `ggml.rs`), as the reference backend `engine/backends/ref.ts` does; this order is part
//! of the ABI (ABI.md "Precise semantics").

use crate::blocks::*;
use crate::ggml::{
    bf16_uses_tinyblas, fma32, hsum8, reduce16, tinyblas_dot, uses_tinyblas, v_expf, v_silu, vec_dot_f32, vec_dot_f32_padded,
};
use crate::num::{bf16_to_f32, f16_to_f32, f32_to_bf16, f32_to_f16, nearest_int};
use crate::view::Mem;

/// |x| without std.
#[inline(always)]
pub fn fabsf(x: f32) -> f32 {
    f32::from_bits(x.to_bits() & 0x7fff_ffff)
}

/// Correctly rounded sqrt (wasm `f32.sqrt`) without std.
#[inline(always)]
pub fn sqrtf(x: f32) -> f32 {
    use core::arch::wasm32::{f32x4_extract_lane, f32x4_splat, f32x4_sqrt};
    f32x4_extract_lane::<0>(f32x4_sqrt(f32x4_splat(x)))
}

// ---------------------------------------------------------------------------------------------------
// Activation quantization

/// Q8_K rows `[rows][K/256 blocks]` from f32 rows `x` `[rows][K]`, for rows r0..r1.
/// `quantize_row_q8_K_ref` (ggml-quants.c:2768-2806): signed absmax (first occurrence), iscale = -127/max,
/// round half to even, clamp <= 127, d = 1/iscale; an all-zero block gets d = 0.
pub fn quantize_q8_k(x: Mem, y: Mem, k: usize, r0: usize, r1: usize) {
    let nb = k / QK_K;
    for r in r0..r1 {
        for b in 0..nb {
            let xb = x.sub((r * k + b * QK_K) * 4, QK_K * 4);
            let yb = y.sub((r * nb + b) * Q8_K_BYTES, Q8_K_BYTES);
            let mut max = 0.0f32;
            let mut amax = 0.0f32;
            for j in 0..QK_K {
                let v = xb.f32_at(j);
                let ax = fabsf(v);
                if ax > amax {
                    amax = ax;
                    max = v;
                }
            }
            if amax == 0.0 {
                yb.set_f32(0, 0.0);
                for j in 0..QK_K {
                    yb.set_u8(Q8_K_QS + j, 0);
                }
                for j in 0..QK_K / 16 {
                    yb.set_u16(Q8_K_BSUMS + 2 * j, 0);
                }
                continue;
            }
            let iscale = -127.0f32 / max;
            for j in 0..QK_K {
                let v = nearest_int(iscale * xb.f32_at(j));
                // MIN(127, v) stored into an int8_t: the low byte (only differs from a clamp when the
                // block's max is subnormal and iscale overflows to inf).
                yb.set_u8(Q8_K_QS + j, if v > 127 { 127 } else { v } as u8);
            }
            for j in 0..QK_K / 16 {
                let mut sum = 0i32;
                for i in 0..16 {
                    sum += yb.i8(Q8_K_QS + 16 * j + i) as i32;
                }
                yb.set_u16(Q8_K_BSUMS + 2 * j, sum as i16 as u16);
            }
            yb.set_f32(0, 1.0 / iscale);
        }
    }
}

/// Q8_0 rows as ggml's x86 CPU path quantizes activations for Q8_0 weights (`quantize_row_q8_0`,
/// ggml-cpu/arch/x86/quants.c:302-345, the AVX branch this machine class runs): d = max|x| / 127 stored as
/// f16, id = 127 / max|x| (0 when max is 0), q = round-half-even(x * id).
pub fn quantize_q8_0(x: Mem, y: Mem, k: usize, r0: usize, r1: usize) {
    let nb = k / QK8_0;
    for r in r0..r1 {
        for b in 0..nb {
            let xb = x.sub((r * k + b * QK8_0) * 4, QK8_0 * 4);
            let yb = y.sub((r * nb + b) * Q8_0_BYTES, Q8_0_BYTES);
            let mut amax = 0.0f32;
            for j in 0..QK8_0 {
                amax = amax.max(fabsf(xb.f32_at(j)));
            }
            let d = amax / 127.0;
            yb.set_u16(0, f32_to_f16(d));
            let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
            for j in 0..QK8_0 {
                yb.set_u8(2 + j, cvt_pack_i8(xb.f32_at(j) * id) as u8);
            }
        }
    }
}

/// x86 `_mm256_round_ps` (nearest even) + `_mm256_cvtps_epi32` + saturating packs to i8: NaN and values
/// outside the i32 range become 0x80000000, hence -128 (reached when max|x| is subnormal and 127/max is inf).
#[inline(always)]
pub fn cvt_pack_i8(v: f32) -> i8 {
    if !(fabsf(v) < 2147483648.0) {
        return -128;
    }
    // |v| < 2^31: round half to even exactly (nearest_int's trick is only valid up to 2^22).
    let r = if fabsf(v) < 4194304.0 { nearest_int(v) as i64 } else { v as i64 };
    r.clamp(-128, 127) as i8
}

/// f32 -> f16 (round to nearest even) for `n` elements starting at element s.
pub fn quantize_f16(x: Mem, y: Mem, s: usize, e: usize) {
    for i in s..e {
        y.set_u16(2 * i, f32_to_f16(x.f32_at(i)));
    }
}

/// f32 -> bf16 (round to nearest even, ggml_compute_fp32_to_bf16).
pub fn quantize_bf16(x: Mem, y: Mem, s: usize, e: usize) {
    for i in s..e {
        y.set_u16(2 * i, f32_to_bf16(x.f32_at(i)));
    }
}

/// The f32 act_scale of bitnet.cpp's `quantize_row_i8_s`: 127 / max(1e-5, max|x|) with the max taken in
/// f64 and the division done in f64, then rounded to f32.
pub fn i8_s_scale(xr: Mem, k: usize) -> f32 {
    let mut max = 0.00001f64;
    for i in 0..k {
        let a = fabsf(xr.f32_at(i)) as f64;
        if a > max {
            max = a;
        }
    }
    (127.0 / max) as f32
}

/// I8_S rows (stride K + 16): q = clamp(nearest_int(x * s), -128, 127), then f32 s and i32 sum(q)
/// (bitnet.cpp `quantize_row_i8_s`, Eddie-Wang1120/llama.cpp merge-dev ggml-quants.c:3501-3520).
pub fn quantize_i8_s(x: Mem, y: Mem, k: usize, r0: usize, r1: usize) {
    let stride = k + I8_S_ROW_EXTRA;
    for r in r0..r1 {
        let xr = x.sub(r * k * 4, k * 4);
        let yr = y.sub(r * stride, stride);
        let s = i8_s_scale(xr, k);
        let mut sum = 0i32;
        for i in 0..k {
            let v = nearest_int(xr.f32_at(i) * s).clamp(-128, 127);
            sum += v;
            yr.set_u8(i, v as i8 as u8);
        }
        yr.set_f32(k, s);
        yr.set_u32(k + 4, sum as u32);
        yr.set_u32(k + 8, 0);
        yr.set_u32(k + 12, 0);
    }
}

// ---------------------------------------------------------------------------------------------------
// Matrix products: y[t][o] = row o of w . row t of x, for o in r0..r1 and every t.

/// The 8 integer lanes of ggml's x86 ternary / K-quant kernels (`arch/x86/quants.c`, AVX2, which the
/// AVX-512 builds use too): lane `p` sums `code(e) * q(e)` over the elements `e` of a 256-block with
/// `(e % 32) >> 2 == p`, where `code` is the unsigned 2-bit code (`value + 1`); the `-1` is applied
/// through the Q8_K `bsums` of elements `32p..32p+31`.
#[inline(always)]
fn ternary_lanes(codes: &[u8; QK_K], yb: Mem) -> [i32; 8] {
    let mut s = [0i32; 8];
    for p in 0..8 {
        let mut v = -(yb.i16(Q8_K_BSUMS + 4 * p) as i32) - yb.i16(Q8_K_BSUMS + 4 * p + 2) as i32;
        let mut e = 4 * p;
        while e < QK_K {
            for i in 0..4 {
                v += codes[e + i] as i32 * yb.i8(Q8_K_QS + e + i) as i32;
            }
            e += 32;
        }
        s[p] = v;
    }
    s
}

/// Ternary x Q8_K in ggml's x86 order: per block `d = y.d * f16(w.d)`, float lane `p` =
/// `fma(f32(lane_p), d, acc_p)` over blocks in order, `hsum_float_8` at the end.
fn gemm_ternary(w: Mem, x: Mem, y: Mem, dims: Dims, r0: usize, r1: usize, bytes: usize, d_off: usize, decode: fn(Mem, &mut [u8; QK_K])) {
    let nb = dims.k / QK_K;
    let mut codes = [0u8; QK_K];
    for o in r0..r1 {
        for t in 0..dims.n_tok {
            let mut acc = [0.0f32; 8];
            for b in 0..nb {
                let wb = w.sub((o * nb + b) * bytes, bytes);
                let yb = x.sub((t * nb + b) * Q8_K_BYTES, Q8_K_BYTES);
                decode(wb, &mut codes);
                let d = yb.f32(0) * f16_to_f32(wb.u16(d_off));
                let s = ternary_lanes(&codes, yb);
                for p in 0..8 {
                    acc[p] = fma32(s[p] as f32, d, acc[p]);
                }
            }
            y.set_f32_at(t * dims.n_out + o, hsum8(&acc));
        }
    }
}

/// The codes (0..=3) of a TQ2_0 block in element order: byte `(e/128)*32 + e%32`, bits `2*((e%128)/32)`
/// (ggml-common.h:283-288).
pub fn tq2_0_codes(wb: Mem, out: &mut [u8; QK_K]) {
    for e in 0..QK_K {
        out[e] = (wb.u8((e / 128) * 32 + e % 32) >> (2 * ((e % 128) / 32))) & 3;
    }
}

/// TQ2_0 x Q8_K (`ggml_vec_dot_tq2_0_q8_K`, arch/x86/quants.c).
pub fn gemm_tq2_0_q8_k(w: Mem, x: Mem, y: Mem, dims: Dims, r0: usize, r1: usize) {
    gemm_ternary(w, x, y, dims, r0, r1, TQ2_0_BYTES, TQ2_0_D, tq2_0_codes);
}

/// Trit `n` (0..4) of a TQ1_0 byte: `((u8)(q * 3^n) * 3) >> 8` (ggml-cpu/quants.c:481-531).
#[inline(always)]
pub fn tq1_trit(q: u8, n: usize) -> i32 {
    // In u32: an auto-vectorized u8 multiply would be scalarized (wasm has no i8x16.mul).
    const POW3: [u32; 5] = [1, 3, 9, 27, 81];
    let v = (q as u32 * POW3[n]) & 0xff;
    ((v * 3) >> 8) as i32
}

/// The trits (0..=2) of a TQ1_0 block in element order (ggml-common.h:274-280, quants.c:481-531):
/// qs[0..32] trit l of byte m -> element l*32 + m; qs[32..48] -> 160 + l*16 + m; qh[j] -> 240 + l*4 + j.
pub fn tq1_0_codes(wb: Mem, out: &mut [u8; QK_K]) {
    for l in 0..5 {
        for m in 0..32 {
            out[l * 32 + m] = tq1_trit(wb.u8(m), l) as u8;
        }
        for m in 0..16 {
            out[160 + l * 16 + m] = tq1_trit(wb.u8(32 + m), l) as u8;
        }
    }
    for l in 0..4 {
        for j in 0..4 {
            out[240 + l * 4 + j] = tq1_trit(wb.u8(TQ1_0_QH + j), l) as u8;
        }
    }
}

/// TQ1_0 x Q8_K (`ggml_vec_dot_tq1_0_q8_K`, arch/x86/quants.c).
pub fn gemm_tq1_0_q8_k(w: Mem, x: Mem, y: Mem, dims: Dims, r0: usize, r1: usize) {
    gemm_ternary(w, x, y, dims, r0, r1, TQ1_0_BYTES, TQ1_0_D, tq1_0_codes);
}

/// The 6-bit value `l` of a Q6_K block (dequantize_row_q6_K, ggml-quants.c), minus 32.
#[inline(always)]
pub fn q6_k_value(wb: Mem, e: usize) -> i32 {
    let half = e / 128;
    let r = e % 128;
    let l = r % 32;
    let group = r / 32; // 0: ql[l] low, 1: ql[l+32] low, 2: ql[l] high, 3: ql[l+32] high
    let ql = wb.u8(half * 64 + l + if group & 1 == 1 { 32 } else { 0 });
    let low = if group >= 2 { ql >> 4 } else { ql & 0xf };
    let qh = (wb.u8(Q6_K_QH + half * 32 + l) >> (2 * group)) & 3;
    ((low | (qh << 4)) as i32) - 32
}

/// Q6_K x Q8_K in the order of ggml's x86 AVX2 kernel (`ggml_vec_dot_q6_K_q8_K`, arch/x86/quants.c): per
/// block, integer lane `p` = sum of `scale[e/16] * q6(e) * q8(e)` over the elements with
/// `(e % 32) >> 2 == p` (`q6` unsigned 0..63) minus `32 * (bsums[2p]*scale[2p] + bsums[2p+1]*scale[2p+1])`;
/// float lane `p` = `fma(d, f32(lane_p), acc_p)` with `d = y.d * f16(w.d)`; `hsum_float_8` at the end.
pub fn gemm_q6_k_q8_k(w: Mem, x: Mem, y: Mem, dims: Dims, r0: usize, r1: usize) {
    let nb = dims.k / QK_K;
    for o in r0..r1 {
        for t in 0..dims.n_tok {
            let mut acc = [0.0f32; 8];
            for b in 0..nb {
                let wb = w.sub((o * nb + b) * Q6_K_BYTES, Q6_K_BYTES);
                let yb = x.sub((t * nb + b) * Q8_K_BYTES, Q8_K_BYTES);
                let d = yb.f32(0) * f16_to_f32(wb.u16(Q6_K_D));
                let sc = |j: usize| wb.i8(Q6_K_SCALES + j) as i32;
                for p in 0..8 {
                    let bs = |j: usize| yb.i16(Q8_K_BSUMS + 2 * j) as i32;
                    let mut s = -32 * (bs(2 * p) * sc(2 * p) + bs(2 * p + 1) * sc(2 * p + 1));
                    let mut e = 4 * p;
                    while e < QK_K {
                        let mut g = 0;
                        for i in 0..4 {
                            g += (q6_k_value(wb, e + i) + 32) * yb.i8(Q8_K_QS + e + i) as i32;
                        }
                        s += sc(e >> 4) * g;
                        e += 32;
                    }
                    acc[p] = fma32(d, s as f32, acc[p]);
                }
            }
            y.set_f32_at(t * dims.n_out + o, hsum8(&acc));
        }
    }
}

/// Q8_0 x Q8_0 in the order of ggml's x86 AVX2 kernel (`ggml_vec_dot_q8_0_q8_0`): per 32-block, integer lane
/// `p` = the 4 products at bytes `4p..4p+3`, float lane `p` = `fma(f16(w.d) * f16(x.d), lane_p, acc_p)`;
/// `hsum_float_8`.
pub fn gemm_q8_0_q8_0(w: Mem, x: Mem, y: Mem, dims: Dims, r0: usize, r1: usize) {
    let nb = dims.k / QK8_0;
    for o in r0..r1 {
        for t in 0..dims.n_tok {
            let mut acc = [0.0f32; 8];
            for b in 0..nb {
                let wb = w.sub((o * nb + b) * Q8_0_BYTES, Q8_0_BYTES);
                let yb = x.sub((t * nb + b) * Q8_0_BYTES, Q8_0_BYTES);
                let d = f16_to_f32(wb.u16(0)) * f16_to_f32(yb.u16(0));
                for p in 0..8 {
                    let mut s = 0i32;
                    for j in 4 * p..4 * p + 4 {
                        s += wb.i8(2 + j) as i32 * yb.i8(2 + j) as i32;
                    }
                    acc[p] = fma32(d, s as f32, acc[p]);
                }
            }
            y.set_f32_at(t * dims.n_out + o, hsum8(&acc));
        }
    }
}

/// F16 x F16 in ggml's x86 order: one token is `ggml_vec_dot_f16` (the 64 lanes of `vec_dot_f32` on the
/// converted values); a batch that llamafile_sgemm takes (`uses_tinyblas`) is tinyBLAS (16 lanes).
/// Products of two f16 values are exact in f32.
pub fn gemm_f16_f16(w: Mem, x: Mem, y: Mem, dims: Dims, r0: usize, r1: usize) {
    let k = dims.k;
    let tb = uses_tinyblas(dims.n_out, k, dims.n_tok);
    for o in r0..r1 {
        for t in 0..dims.n_tok {
            let wi = |i: usize| f16_to_f32(w.u16(2 * (o * k + i)));
            let xi = |i: usize| f16_to_f32(x.u16(2 * (t * k + i)));
            let v = if tb { tinyblas_dot(k, wi, xi) } else { vec_dot_f32(k, wi, xi) };
            y.set_f32_at(t * dims.n_out + o, v);
        }
    }
}

/// BF16 x BF16 in the order of ggml's AVX512-BF16 kernels. One token: `ggml_vec_dot_bf16`, per 64-element chunk
/// two 16-lane accumulators (elements 0..31 and 32..63) take `vdpbf16ps` steps (lane `l` adds the product of pair
/// element `2l+1`, then of `2l`; products are exact in f32); the two are reduced and summed in f64, the tail in
/// f64. A batch llamafile_sgemm takes (`bf16_uses_tinyblas`): tinyBLAS with `_mm512_dpbf16_ps`, one 16-lane
/// accumulator taking the same steps over 32-element chunks, then `reduce16`.
pub fn gemm_bf16_bf16(w: Mem, x: Mem, y: Mem, dims: Dims, r0: usize, r1: usize) {
    let k = dims.k;
    let tb = bf16_uses_tinyblas(dims.n_out, k, dims.n_tok);
    for o in r0..r1 {
        for t in 0..dims.n_tok {
            let wi = |i: usize| bf16_to_f32(w.u16(2 * (o * k + i)));
            let xi = |i: usize| bf16_to_f32(x.u16(2 * (t * k + i)));
            let mut c1 = [0.0f32; 16];
            let mut c2 = [0.0f32; 16];
            if tb {
                let mut i = 0;
                while i < k {
                    for l in 0..16 {
                        let a = i + 2 * l;
                        c1[l] = (c1[l] + wi(a + 1) * xi(a + 1)) + wi(a) * xi(a);
                    }
                    i += 32;
                }
                y.set_f32_at(t * dims.n_out + o, reduce16(&c1));
                continue;
            }
            let mut i = 0;
            while i + 64 <= k {
                for l in 0..16 {
                    let (a, b) = (i + 2 * l, i + 32 + 2 * l);
                    c1[l] = (c1[l] + wi(a + 1) * xi(a + 1)) + wi(a) * xi(a);
                    c2[l] = (c2[l] + wi(b + 1) * xi(b + 1)) + wi(b) * xi(b);
                }
                i += 64;
            }
            let mut sum = reduce16(&c1) as f64 + reduce16(&c2) as f64;
            while i < k {
                sum += (wi(i) * xi(i)) as f64;
                i += 1;
            }
            y.set_f32_at(t * dims.n_out + o, sum as f32);
        }
    }
}

/// F32 x F32 in ggml's x86 order: `ggml_vec_dot_f32` for one token, tinyBLAS for a batch it takes.
pub fn gemm_f32_f32(w: Mem, x: Mem, y: Mem, dims: Dims, r0: usize, r1: usize) {
    let k = dims.k;
    let tb = uses_tinyblas(dims.n_out, k, dims.n_tok);
    for o in r0..r1 {
        for t in 0..dims.n_tok {
            let wi = |i: usize| w.f32_at(o * k + i);
            let xi = |i: usize| x.f32_at(t * k + i);
            let v = if tb { tinyblas_dot(k, wi, xi) } else { vec_dot_f32(k, wi, xi) };
            y.set_f32_at(t * dims.n_out + o, v);
        }
    }
}

/// Code (0, 1, 2 for -1, 0, +1) of element `e` of an I2_S row: 128-element blocks of 32 bytes; byte `gp`
/// holds elements gp, 32+gp, 64+gp, 96+gp in bits [7:6], [5:4], [3:2], [1:0] (docs/formats.md section 2).
#[inline(always)]
pub fn i2_s_code(wr: Mem, e: usize) -> i32 {
    let blk = e / QK_I2_S;
    let r = e % QK_I2_S;
    let byte = wr.u8(blk * I2_S_BLOCK_BYTES + r % 32);
    ((byte >> (6 - 2 * (r / 32))) & 3) as i32
}

/// I2_S x I8_S (bitnet.cpp): `(f32)(sum code*q - sum q) / act_scale * w_scale`, the integer sum exact.
pub fn gemm_i2_s_i8_s(w: Mem, x: Mem, y: Mem, dims: Dims, r0: usize, r1: usize) {
    let k = dims.k;
    let stride = k + I8_S_ROW_EXTRA;
    let w_scale = w.f32(dims.n_out * k / 4);
    for o in r0..r1 {
        let wr = w.sub(o * k / 4, k / 4);
        for t in 0..dims.n_tok {
            let xr = x.sub(t * stride, stride);
            let mut sumi = 0i32;
            for e in 0..k {
                sumi += i2_s_code(wr, e) * xr.i8(e) as i32;
            }
            let v = (sumi - xr.i32(k + 4)) as f32 / xr.f32(k) * w_scale;
            y.set_f32_at(t * dims.n_out + o, v);
        }
    }
}

/// Matrix-product dimensions.
#[derive(Clone, Copy)]
pub struct Dims {
    pub n_out: usize,
    pub k: usize,
    pub n_tok: usize,
}

// ---------------------------------------------------------------------------------------------------
// Embedding rows

/// Element `i` of row `row` of a weight matrix of type `ty`, as f32 (ggml's `to_float` of that type).
pub fn dequant(ty: RowType, w: Mem, k: usize, i: usize) -> f32 {
    match ty {
        RowType::F32 => w.f32_at(i),
        RowType::F16 => f16_to_f32(w.u16(2 * i)),
        RowType::Bf16 => bf16_to_f32(w.u16(2 * i)),
        RowType::Q8_0 => {
            // dequantize_row_q8_0: qs[j] * d
            let b = w.sub(i / QK8_0 * Q8_0_BYTES, Q8_0_BYTES);
            b.i8(2 + i % QK8_0) as f32 * f16_to_f32(b.u16(0))
        }
        RowType::Q6K => {
            // dequantize_row_q6_K (ggml-quants.c): d * sc[is] * q
            let _ = k;
            let b = w.sub(i / QK_K * Q6_K_BYTES, Q6_K_BYTES);
            let e = i % QK_K;
            let d = f16_to_f32(b.u16(Q6_K_D));
            let sc = b.i8(Q6_K_SCALES + e / 16) as f32;
            d * sc * q6_k_value(b, e) as f32
        }
    }
}

/// Row storage types of `get_rows`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RowType {
    F32,
    F16,
    Bf16,
    Q8_0,
    Q6K,
}

impl RowType {
    /// Bytes of one row of `k` elements.
    pub fn row_bytes(self, k: usize) -> usize {
        match self {
            RowType::F32 => 4 * k,
            RowType::F16 | RowType::Bf16 => 2 * k,
            RowType::Q8_0 => k / QK8_0 * Q8_0_BYTES,
            RowType::Q6K => k / QK_K * Q6_K_BYTES,
        }
    }
}

/// `y[j] = dequantized row` for one already located source row.
pub fn get_row(ty: RowType, wr: Mem, yr: Mem, k: usize) {
    for i in 0..k {
        yr.set_f32_at(i, dequant(ty, wr, k, i));
    }
}

// ---------------------------------------------------------------------------------------------------
// Normalization, RoPE, attention, element-wise

/// RMSNorm of one row (ggml-cpu/ops.cpp:3924-3980): sum of f32 squares accumulated in f64 in order,
/// mean = (f32)(sum / K), scale = 1 / sqrtf(mean + eps), y = (x * scale) * w.
pub fn rms_norm_row(xr: Mem, w: Mem, yr: Mem, k: usize, eps: f32) {
    let mut sum = 0.0f64;
    for i in 0..k {
        let v = xr.f32_at(i);
        sum += (v * v) as f64;
    }
    let mean = (sum / k as f64) as f32;
    let scale = 1.0f32 / sqrtf(mean + eps);
    for i in 0..k {
        yr.set_f32_at(i, (xr.f32_at(i) * scale) * w.f32_at(i));
    }
}

/// NEOX RoPE of one head in place (ggml-cpu/ops.cpp `rotate_pairs` with n_offset = n_rot/2): pairs
/// (i, i + n_rot/2); `cs` holds n_rot/2 cosines then n_rot/2 sines. GCC contracts `x0*cos - x1*sin` into
/// `fma(x0, cos, -(x1*sin))` and `x0*sin + x1*cos` into `fma(x0, sin, x1*cos)`.
pub fn rope_neox_head(xh: Mem, cs: Mem, n_rot: usize) {
    let half = n_rot / 2;
    for i in 0..half {
        let c = cs.f32_at(i);
        let s = cs.f32_at(half + i);
        let x0 = xh.f32_at(i);
        let x1 = xh.f32_at(i + half);
        xh.set_f32_at(i, fma32(x0, c, -(x1 * s)));
        xh.set_f32_at(i + half, fma32(x0, s, x1 * c));
    }
}

/// Attention of one query head over cache rows 0..n_kv (causal window already applied), in the order of
/// ggml's non-flash path: scores `s_j = vec_dot_f32(k_j, q) * scale`; `m = max s_j`; softmax as
/// `ggml_vec_soft_max_f32` (`v_expf(s_j - m)` in 16-lane chunks, each chunk's `reduce16` summed in f64, then
/// `p_j = e_j * f32(1/sum)`, kept in `e`); `out[d]` = tinyBLAS order over j when the batch has two or more
/// tokens, the zero-padded `vec_dot_f32` order for one token.
pub fn attention_head(q: Mem, k: Mem, v: Mem, out: Mem, e: Mem, p: &AttnHead) {
    let hd = p.head_dim;
    let n = p.n_kv;
    let mut max = f32::NEG_INFINITY;
    for j in 0..n {
        let kj = k.sub((j * p.kv_stride + p.kv_off) * 4, hd * 4);
        let s = vec_dot_f32(hd, |i| kj.f32_at(i), |i| q.f32_at(i)) * p.scale;
        e.set_f32_at(j, s);
        if s > max {
            max = s;
        }
    }
    let mut sum = 0.0f64;
    let mut c = 0;
    while c < n {
        let mut chunk = [0.0f32; 16];
        for l in 0..16 {
            if c + l < n {
                let ej = v_expf(e.f32_at(c + l) - max);
                e.set_f32_at(c + l, ej);
                chunk[l] = ej;
            }
        }
        sum += reduce16(&chunk) as f64;
        c += 16;
    }
    let inv = (1.0 / sum) as f32;
    for j in 0..n {
        e.set_f32_at(j, e.f32_at(j) * inv);
    }
    for d in 0..hd {
        let vj = |j: usize| v.f32_at(j * p.kv_stride + p.kv_off + d);
        let pj = |j: usize| e.f32_at(j);
        let o = if p.batched { tinyblas_dot(n, vj, pj) } else { vec_dot_f32_padded(n, vj, pj) };
        out.set_f32_at(d, o);
    }
}

/// Geometry of one attention head's work.
pub struct AttnHead {
    pub head_dim: usize,
    /// Number of cache rows attended (pos0 + t + 1).
    pub n_kv: usize,
    /// f32 elements per cache row (n_head_kv * head_dim).
    pub kv_stride: usize,
    /// First f32 element of this head's kv head inside a cache row.
    pub kv_off: usize,
    pub scale: f32,
    /// The batch has two or more tokens (ggml takes tinyBLAS for `v^T p`).
    pub batched: bool,
}

/// Element-wise kernels.
#[derive(Clone, Copy)]
pub enum Unary {
    /// y = v_silu(g) * u (ggml_vec_swiglu_f32 on AVX-512: ggml_v_silu in 16-lane chunks).
    SwiGlu,
    /// y = (max(g, 0) * max(g, 0)) * u.
    Relu2Glu,
    /// y = a + b.
    Add,
}

/// Element-wise op on elements s..e.
pub fn binary(op: Unary, a: Mem, b: Mem, y: Mem, s: usize, e: usize) {
    for i in s..e {
        let x = a.f32_at(i);
        let u = b.f32_at(i);
        let v = match op {
            Unary::SwiGlu => v_silu(x) * u,
            Unary::Relu2Glu => {
                let r = x.max(0.0);
                (r * r) * u
            }
            Unary::Add => x + u,
        };
        y.set_f32_at(i, v);
    }
}

/// y = x * s on elements s..e.
pub fn mul_scalar(x: Mem, s: f32, y: Mem, i0: usize, i1: usize) {
    for i in i0..i1 {
        y.set_f32_at(i, x.f32_at(i) * s);
    }
}
