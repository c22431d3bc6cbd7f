//! Kernel entry points behind the exports: argument checks (with messages naming the kernel), argument
//! views, and the split of the work among the threads of a dispatch. `simd` picks the SIMD kernel or its
//! scalar twin; everything else (checks, split) is shared so that the two are compared like for like.

use crate::blocks::*;
use crate::scalar::{self, AttnHead, Dims, RowType, Unary};
use crate::sched::for_chunks;
use crate::simd128::{self, fast_float, fast_ternary, float, ternary, Fast, FastDot};
use crate::view::{Mem, Scratch};

/// Panics with "`kernel`: `what`" unless `ok`.
#[inline(always)]
fn require(kernel: &str, ok: bool, what: core::fmt::Arguments) {
    if !ok {
        fail(kernel, what)
    }
}

#[cold]
#[inline(never)]
fn fail(kernel: &str, what: core::fmt::Arguments) -> ! {
    panic!("{kernel}: {what}")
}

/// Product of sizes in u64 (regions may be up to 4 GiB; usize is 32 bits).
#[inline(always)]
fn sz(parts: &[usize]) -> u64 {
    parts.iter().fold(1u64, |a, &b| a * b as u64)
}

/// Rows per work chunk of a matrix product: about 16 chunks per thread, a multiple of 8 (the GEMV tile),
/// 8..=256.
#[inline(always)]
fn row_chunk(n_out: usize, nth: u32) -> usize {
    let per = n_out / (16 * nth.max(1) as usize);
    (per.clamp(8, 256) + 7) / 8 * 8
}

// ---------------------------------------------------------------------------------------------------
// Quantization

pub fn quantize_q8_k(simd: bool, x: u32, y: u32, k: u32, n_rows: u32, nth: u32) {
    const N: &str = "quantize.q8_k";
    let (k, n) = (k as usize, n_rows as usize);
    require(N, k % QK_K == 0, format_args!("K = {k} is not a multiple of {QK_K}. fix: pad the row"));
    let xv = Mem::arg(N, "x", x, sz(&[n, k, 4]));
    let yv = Mem::arg(N, "y", y, sz(&[n, k / QK_K, Q8_K_BYTES]));
    // Blocks are independent: split the flattened blocks, 4 per chunk.
    let nb = k / QK_K;
    for_chunks(n * nb, 4, nth, |s, e| {
        for blk in s..e {
            let (r, b) = (blk / nb, blk % nb);
            let xr = xv.sub((r * k + b * QK_K) * 4, QK_K * 4);
            let yr = yv.sub((r * nb + b) * Q8_K_BYTES, Q8_K_BYTES);
            if simd {
                simd128::quant::quantize_q8_k(xr, yr, QK_K, 0, 1)
            } else {
                scalar::quantize_q8_k(xr, yr, QK_K, 0, 1)
            }
        }
    });
}

pub fn quantize_q8_0(simd: bool, x: u32, y: u32, k: u32, n_rows: u32, nth: u32) {
    const N: &str = "quantize.q8_0";
    let (k, n) = (k as usize, n_rows as usize);
    require(N, k % QK8_0 == 0, format_args!("K = {k} is not a multiple of {QK8_0}. fix: pad the row"));
    let xv = Mem::arg(N, "x", x, sz(&[n, k, 4]));
    let yv = Mem::arg(N, "y", y, sz(&[n, k / QK8_0, Q8_0_BYTES]));
    let nb = k / QK8_0;
    for_chunks(n * nb, 32, nth, |s, e| {
        for blk in s..e {
            let xr = xv.sub(blk * QK8_0 * 4, QK8_0 * 4);
            let yr = yv.sub(blk * Q8_0_BYTES, Q8_0_BYTES);
            if simd {
                simd128::quant::quantize_q8_0(xr, yr, QK8_0, 0, 1)
            } else {
                scalar::quantize_q8_0(xr, yr, QK8_0, 0, 1)
            }
        }
    });
}

pub fn quantize_half(simd: bool, half: bool, x: u32, y: u32, k: u32, n_rows: u32, nth: u32) {
    let name = if half { "quantize.f16" } else { "quantize.bf16" };
    let n = k as usize * n_rows as usize;
    let xv = Mem::arg(name, "x", x, sz(&[n, 4]));
    let yv = Mem::arg(name, "y", y, sz(&[n, 2]));
    for_chunks(n, 4096, nth, |s, e| match (simd, half) {
        (true, _) => simd128::quant::quantize_half(half, xv, yv, s, e),
        (false, true) => scalar::quantize_f16(xv, yv, s, e),
        (false, false) => scalar::quantize_bf16(xv, yv, s, e),
    });
}

pub fn quantize_i8_s(simd: bool, x: u32, y: u32, k: u32, n_rows: u32, nth: u32) {
    const N: &str = "quantize.i8_s";
    let (k, n) = (k as usize, n_rows as usize);
    let xv = Mem::arg(N, "x", x, sz(&[n, k, 4]));
    let yv = Mem::arg(N, "y", y, sz(&[n, k + I8_S_ROW_EXTRA]));
    for_chunks(n, 1, nth, |s, e| {
        if simd {
            simd128::quant::quantize_i8_s(xv, yv, k, s, e)
        } else {
            scalar::quantize_i8_s(xv, yv, k, s, e)
        }
    });
}

// ---------------------------------------------------------------------------------------------------
// Matrix products

/// Weight formats of `gemm`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Wt {
    Tq2,
    Tq1,
    Q6K,
    Q8_0,
    F16,
    Bf16,
    F32,
    I2S,
}

impl Wt {
    fn name(self) -> &'static str {
        match self {
            Wt::Tq2 => "gemm.tq2_0_q8_k",
            Wt::Tq1 => "gemm.tq1_0_q8_k",
            Wt::Q6K => "gemm.q6_k_q8_k",
            Wt::Q8_0 => "gemm.q8_0_q8_0",
            Wt::F16 => "gemm.f16_f16",
            Wt::Bf16 => "gemm.bf16_bf16",
            Wt::F32 => "gemm.f32_f32",
            Wt::I2S => "gemm.i2_s_i8_s",
        }
    }
    /// (elements per block, weight bytes per block, activation bytes per block).
    fn geometry(self) -> (usize, usize, usize) {
        match self {
            Wt::Tq2 => (QK_K, TQ2_0_BYTES, Q8_K_BYTES),
            Wt::Tq1 => (QK_K, TQ1_0_BYTES, Q8_K_BYTES),
            Wt::Q6K => (QK_K, Q6_K_BYTES, Q8_K_BYTES),
            Wt::Q8_0 => (QK8_0, Q8_0_BYTES, Q8_0_BYTES),
            Wt::F16 | Wt::Bf16 => (1, 2, 2),
            Wt::F32 => (1, 4, 4),
            Wt::I2S => (QK_I2_S, I2_S_BLOCK_BYTES, QK_I2_S),
        }
    }
}

pub fn gemm(simd: bool, wt: Wt, w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32, nth: u32) {
    let name = wt.name();
    let dm = Dims { n_out: n_out as usize, k: k as usize, n_tok: n_tok as usize };
    let (qk, wb, xb) = wt.geometry();
    require(name, dm.k % qk == 0, format_args!("K = {} is not a multiple of the block size {qk}. fix: check the tensor shape", dm.k));
    let nb = dm.k / qk;
    let (w_len, x_len) = if wt == Wt::I2S {
        (sz(&[dm.n_out, dm.k]) / 4 + I2_S_TAIL_BYTES as u64, sz(&[dm.n_tok, dm.k + I8_S_ROW_EXTRA]))
    } else {
        (sz(&[dm.n_out, nb, wb]), sz(&[dm.n_tok, nb, xb]))
    };
    let wv = Mem::arg(name, "w", w, w_len);
    let xv = Mem::arg(name, "x", x, x_len);
    let yv = Mem::arg(name, "y", y, sz(&[dm.n_tok, dm.n_out, 4]));
    for_chunks(dm.n_out, row_chunk(dm.n_out, nth), nth, |r0, r1| {
        if simd {
            match wt {
                Wt::Tq2 => simd128::ternary::gemm_tq::<ternary::Tq2, Fast>(wv, xv, yv, dm, r0, r1),
                Wt::Tq1 => simd128::ternary::gemm_tq::<ternary::Tq1, Fast>(wv, xv, yv, dm, r0, r1),
                Wt::I2S => simd128::ternary::gemm_i2_s::<Fast>(wv, xv, yv, dm, r0, r1),
                Wt::Q6K => simd128::quant::gemm_q6_k(wv, xv, yv, dm, r0, r1),
                Wt::Q8_0 => simd128::quant::gemm_q8_0(wv, xv, yv, dm, r0, r1),
                Wt::F16 => simd128::float::gemm::<float::F16>(wv, xv, yv, dm, r0, r1),
                Wt::Bf16 => simd128::float::gemm_bf16(wv, xv, yv, dm, r0, r1),
                Wt::F32 => simd128::float::gemm::<float::F32>(wv, xv, yv, dm, r0, r1),
            }
        } else {
            match wt {
                Wt::Tq2 => scalar::gemm_tq2_0_q8_k(wv, xv, yv, dm, r0, r1),
                Wt::Tq1 => scalar::gemm_tq1_0_q8_k(wv, xv, yv, dm, r0, r1),
                Wt::I2S => scalar::gemm_i2_s_i8_s(wv, xv, yv, dm, r0, r1),
                Wt::Q6K => scalar::gemm_q6_k_q8_k(wv, xv, yv, dm, r0, r1),
                Wt::Q8_0 => scalar::gemm_q8_0_q8_0(wv, xv, yv, dm, r0, r1),
                Wt::F16 => scalar::gemm_f16_f16(wv, xv, yv, dm, r0, r1),
                Wt::Bf16 => scalar::gemm_bf16_bf16(wv, xv, yv, dm, r0, r1),
                Wt::F32 => scalar::gemm_f32_f32(wv, xv, yv, dm, r0, r1),
            }
        }
    });
}

/// `fast.gemm.tq2_0x2_q8_k` (`scalar_fast::gemm_tq2_0x2`). Work items are (token group, row chunk): each thread
/// fills the per-(token, block) activation table of a group once (`fast_ternary::fill_tab`, in its stack), then
/// computes the row chunks it takes.
pub fn gemm_fast_tq2(simd: bool, w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32, nth: u32) {
    const N: &str = "fast.gemm.tq2_0x2_q8_k";
    let dm = Dims { n_out: n_out as usize, k: k as usize, n_tok: n_tok as usize };
    require(N, dm.k % QK_K == 0, format_args!("K = {} is not a multiple of {QK_K}. fix: check the tensor shape", dm.k));
    let nb = dm.k / QK_K;
    const TAB_BYTES: usize = 65536;
    let cap = TAB_BYTES / fast_ternary::TAB_ENTRY;
    require(N, nb <= cap, format_args!("K = {} is too long (at most {} blocks). fix: split the row", dm.k, cap));
    let wv = Mem::arg(N, "w", w, sz(&[dm.n_out, nb, TQ2_0_BYTES]));
    let xv = Mem::arg(N, "x", x, sz(&[dm.n_tok, nb, Q8_K_BYTES]));
    let yv = Mem::arg(N, "y", y, sz(&[dm.n_tok, dm.n_out, 4]));
    if dm.n_out == 0 || dm.n_tok == 0 {
        return;
    }
    // A small table for one token (decode): the scratch is zeroed on every call.
    if dm.n_tok * nb * fast_ternary::TAB_ENTRY <= 2048 {
        gemm_fast_items::<2048>(simd, wv, xv, yv, dm, nth)
    } else {
        gemm_fast_items::<TAB_BYTES>(simd, wv, xv, yv, dm, nth)
    }
}

fn gemm_fast_items<const TB: usize>(simd: bool, wv: Mem, xv: Mem, yv: Mem, dm: Dims, nth: u32) {
    let nb = dm.k / QK_K;
    let cap = TB / fast_ternary::TAB_ENTRY;
    let group = (cap / nb.max(1)).min(dm.n_tok).max(1);
    let n_groups = (dm.n_tok + group - 1) / group;
    let rc = row_chunk(dm.n_out, nth); // a multiple of 8: chunks start on a row pair
    let n_rc = (dm.n_out + rc - 1) / rc;
    let mut scratch = Scratch::<TB>::new();
    let tab = scratch.mem();
    let mut have = usize::MAX;
    for_chunks(n_groups * n_rc, 1, nth, |s, e| {
        for item in s..e {
            let (g, c) = (item / n_rc, item % n_rc);
            let (t0, t1) = (g * group, ((g + 1) * group).min(dm.n_tok));
            let (r0, r1) = (c * rc, ((c + 1) * rc).min(dm.n_out));
            if !simd {
                crate::scalar_fast::gemm_tq2_0x2(wv, xv, yv, dm, (r0, r1), (t0, t1));
                continue;
            }
            if have != g {
                fast_ternary::fill_tab(xv, tab, nb, t0, t1 - t0);
                have = g;
            }
            fast_ternary::gemm_x2::<FastDot>(wv, xv, yv, dm, r0, r1, t0, t1, tab, t0);
        }
    });
}

/// `fast.gemm.f16_f32` / `fast.gemm.bf16_f32` (`simd128::fast_float`). Work items are (token, row chunk); a
/// thread scales a token's activations into its stack when its item's token changes.
pub fn gemm_fast_float(simd: bool, f16: bool, w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32, nth: u32) {
    let name = if f16 { "fast.gemm.f16_f32" } else { "fast.gemm.bf16_f32" };
    let dm = Dims { n_out: n_out as usize, k: k as usize, n_tok: n_tok as usize };
    const XS: usize = 16384;
    require(name, dm.k <= XS, format_args!("K = {} is too long (at most {XS}). fix: split the row", dm.k));
    let wv = Mem::arg(name, "w", w, sz(&[dm.n_out, dm.k, 2]));
    let xv = Mem::arg(name, "x", x, sz(&[dm.n_tok, dm.k, 4]));
    let yv = Mem::arg(name, "y", y, sz(&[dm.n_tok, dm.n_out, 4]));
    if dm.n_out == 0 || dm.n_tok == 0 {
        return;
    }
    let rc = row_chunk(dm.n_out, nth);
    let n_rc = (dm.n_out + rc - 1) / rc;
    let mut scratch = Scratch::<{ XS * 4 }>::new();
    let xs = scratch.mem().sub(0, dm.k * 4);
    let mut have = usize::MAX;
    let mut post = 1.0f32;
    for_chunks(dm.n_tok * n_rc, 1, nth, |s, e| {
        for item in s..e {
            let (t, c) = (item / n_rc, item % n_rc);
            let (r0, r1) = (c * rc, ((c + 1) * rc).min(dm.n_out));
            if have != t {
                let xt = xv.sub(t * dm.k * 4, dm.k * 4);
                let sh = if f16 { fast_float::x_scale(xt, dm.k) } else { 0 };
                let m = fast_float::pow2(sh);
                for i in 0..dm.k {
                    xs.set_f32_at(i, xt.f32_at(i) * m);
                }
                post = if f16 { fast_float::pow2(112 - sh) } else { 1.0 };
                have = t;
            }
            match (simd, f16) {
                (true, true) => fast_float::gemv_rmadd::<fast_float::F16>(wv, xs, yv, dm, r0, r1, t, post),
                (true, false) => fast_float::gemv_rmadd::<fast_float::Bf16>(wv, xs, yv, dm, r0, r1, t, post),
                (false, true) => crate::scalar_fast::gemm_float::<fast_float::F16>(wv, xs, yv, dm, r0, r1, t, post),
                (false, false) => crate::scalar_fast::gemm_float::<fast_float::Bf16>(wv, xs, yv, dm, r0, r1, t, post),
            }
        }
    });
}

/// `fast.repack.tq2_0x2`: TQ2_0 rows -> the pair layout TQ2_0x2, in place (a row pair at a time through the
/// thread's stack).
pub fn repack_tq2_0x2(w: u32, n_out: u32, k: u32, nth: u32) {
    const N: &str = "fast.repack.tq2_0x2";
    let (n, k) = (n_out as usize, k as usize);
    require(N, k % QK_K == 0, format_args!("K = {k} is not a multiple of {QK_K}. fix: check the tensor shape"));
    let nb = k / QK_K;
    const SCR: usize = 2 * 256 * TQ2_0_BYTES;
    require(N, 2 * nb * TQ2_0_BYTES <= SCR, format_args!("K = {k} is too long (at most 65536). fix: split the row"));
    let wv = Mem::arg(N, "w", w, sz(&[n, nb, TQ2_0_BYTES]));
    let mut scratch = Scratch::<SCR>::new();
    let sc = scratch.mem();
    let rb = nb * TQ2_0_BYTES;
    for_chunks(n / 2, 16, nth, |p0, p1| {
        for p in p0..p1 {
            let pair = wv.sub(2 * p * rb, 2 * rb);
            let tmp = sc.sub(0, 2 * rb);
            let mut i = 0;
            while i + 16 <= 2 * rb {
                tmp.set_v128(i, pair.v128(i));
                i += 16;
            }
            while i < 2 * rb {
                tmp.set_u8(i, pair.u8(i));
                i += 1;
            }
            for b in 0..nb {
                for r in 0..2 {
                    let (from, to) = (r * rb + b * TQ2_0_BYTES, (2 * b + r) * TQ2_0_BYTES);
                    for q in 0..4 {
                        pair.set_v128(to + 16 * q, tmp.v128(from + 16 * q));
                    }
                    pair.set_u16(to + TQ2_0_D, tmp.u16(from + TQ2_0_D));
                }
            }
        }
    });
}

/// `fast.repack.tq1_0_tq2_0x2`: TQ1_0 rows (`src`) -> TQ2_0x2 (`dst`, another region: 66 instead of 54 bytes per
/// block).
pub fn repack_tq1_0(simd: bool, src: u32, dst: u32, n_out: u32, k: u32, nth: u32) {
    const N: &str = "fast.repack.tq1_0_tq2_0x2";
    let (n, k) = (n_out as usize, k as usize);
    require(N, k % QK_K == 0, format_args!("K = {k} is not a multiple of {QK_K}. fix: check the tensor shape"));
    let nb = k / QK_K;
    let sv = Mem::arg(N, "src", src, sz(&[n, nb, TQ1_0_BYTES]));
    let dv = Mem::arg(N, "dst", dst, sz(&[n, nb, TQ2_0_BYTES]));
    let (s0, s1, d0, d1) = (src as u64, src as u64 + sz(&[n, nb, TQ1_0_BYTES]), dst as u64, dst as u64 + sz(&[n, nb, TQ2_0_BYTES]));
    require(N, s1 <= d0 || d1 <= s0, format_args!("src and dst overlap. fix: repack into a separate region"));
    for_chunks(n, 64, nth, |r0, r1| {
        if simd {
            simd128::fast_misc::repack_tq1_0(sv, dv, n, k, r0, r1)
        } else {
            crate::scalar_fast::repack_tq1_0(sv, dv, n, k, r0, r1)
        }
    });
}

// ---------------------------------------------------------------------------------------------------
// Embedding rows

pub fn get_rows(simd: bool, ty: RowType, w: u32, ids: u32, y: u32, k: u32, n_ids: u32, nth: u32) {
    let name = match ty {
        RowType::F32 => "get_rows.f32",
        RowType::F16 => "get_rows.f16",
        RowType::Bf16 => "get_rows.bf16",
        RowType::Q8_0 => "get_rows.q8_0",
        RowType::Q6K => "get_rows.q6_k",
    };
    let (k, n) = (k as usize, n_ids as usize);
    let qk = match ty {
        RowType::Q8_0 => QK8_0,
        RowType::Q6K => QK_K,
        _ => 1,
    };
    require(name, k % qk == 0, format_args!("K = {k} is not a multiple of the block size {qk}. fix: check the tensor shape"));
    let idv = Mem::arg(name, "ids", ids, sz(&[n, 4]));
    let yv = Mem::arg(name, "y", y, sz(&[n, k, 4]));
    let rb = ty.row_bytes(k);
    for_chunks(n, 1, nth, |s, e| {
        for j in s..e {
            let id = idv.i32(4 * j);
            require(name, id >= 0, format_args!("ids[{j}] = {id} is negative. fix: pass token ids >= 0"));
            // The row count of `w` is not an argument: each row is checked against the arena only.
            let row = w as u64 + id as u64 * rb as u64;
            require(name, row <= u32::MAX as u64, format_args!("ids[{j}] = {id} points past the arena. fix: check the token id against the vocabulary"));
            let wr = Mem::arg(name, "w[ids[j]]", row as u32, rb as u64);
            let yr = yv.sub(j * k * 4, k * 4);
            if simd {
                simd128::misc::get_row(ty, wr, yr, k)
            } else {
                scalar::get_row(ty, wr, yr, k)
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------------
// Norm, RoPE, attention, element-wise

pub fn rms_norm(simd: bool, x: u32, w: u32, y: u32, k: u32, n_rows: u32, eps: f32, nth: u32) {
    const N: &str = "rms_norm";
    let (k, n) = (k as usize, n_rows as usize);
    require(N, k > 0, format_args!("K = 0. fix: pass the row length"));
    let xv = Mem::arg(N, "x", x, sz(&[n, k, 4]));
    let wv = Mem::arg(N, "w", w, sz(&[k, 4]));
    let yv = Mem::arg(N, "y", y, sz(&[n, k, 4]));
    for_chunks(n, 1, nth, |s, e| {
        for r in s..e {
            let (xr, yr) = (xv.sub(r * k * 4, k * 4), yv.sub(r * k * 4, k * 4));
            if simd {
                simd128::misc::rms_norm_row(xr, wv, yr, k, eps)
            } else {
                scalar::rms_norm_row(xr, wv, yr, k, eps)
            }
        }
    });
}

pub fn rope_neox(simd: bool, x: u32, cs: u32, n_tok: u32, n_head: u32, head_dim: u32, n_rot: u32, nth: u32) {
    const N: &str = "rope.neox";
    let (nt, nh, hd, nr) = (n_tok as usize, n_head as usize, head_dim as usize, n_rot as usize);
    require(N, nr % 2 == 0 && nr <= hd, format_args!("n_rot = {nr} must be even and <= head_dim = {hd}. fix: check rope.dimension_count"));
    let xv = Mem::arg(N, "x", x, sz(&[nt, nh, hd, 4]));
    let csv = Mem::arg(N, "cs", cs, sz(&[nt, nr, 4]));
    let items = nt * nh;
    for_chunks(items, (items / (4 * nth.max(1) as usize)).max(1), nth, |s, e| {
        for it in s..e {
            let xh = xv.sub(it * hd * 4, hd * 4);
            let ct = csv.sub((it / nh) * nr * 4, nr * 4);
            if simd {
                simd128::misc::rope_neox_head(xh, ct, nr)
            } else {
                scalar::rope_neox_head(xh, ct, nr)
            }
        }
    });
}

/// Attention arguments after the pointers.
pub struct AttnArgs {
    pub n_tok: u32,
    pub pos0: u32,
    pub n_head: u32,
    pub n_head_kv: u32,
    pub head_dim: u32,
    pub n_ctx: u32,
    pub scale: f32,
}

pub fn attention(simd: bool, ptrs: [u32; 5], a: AttnArgs, ith: u32, nth: u32) {
    const N: &str = "attention";
    let [q, k, v, out, scratch] = ptrs;
    let (nt, pos0, nh, nkv, hd, nctx) =
        (a.n_tok as usize, a.pos0 as usize, a.n_head as usize, a.n_head_kv as usize, a.head_dim as usize, a.n_ctx as usize);
    require(N, nkv > 0 && nh % nkv == 0, format_args!("n_head = {nh} is not a multiple of n_head_kv = {nkv}. fix: check the head counts"));
    require(N, pos0 + nt <= nctx, format_args!("pos0 + n_tok = {} exceeds n_ctx = {nctx}. fix: grow the KV cache or shorten the prompt", pos0 + nt));
    require(N, ith < nth.max(1), format_args!("thread {ith} of {nth}. fix: call through the pool"));
    let qv = Mem::arg(N, "q", q, sz(&[nt, nh, hd, 4]));
    let ov = Mem::arg(N, "out", out, sz(&[nt, nh, hd, 4]));
    let kv = Mem::arg(N, "k", k, sz(&[nctx, nkv, hd, 4]));
    let vv = Mem::arg(N, "v", v, sz(&[nctx, nkv, hd, 4]));
    let sv = Mem::arg(N, "scratch", scratch, sz(&[nth.max(1) as usize, nctx, 4]));
    let e = sv.sub(ith as usize * nctx * 4, nctx * 4);
    let group = nh / nkv;
    for_chunks(nt * nh, 1, nth, |s, en| {
        for it in s..en {
            let (t, h) = (it / nh, it % nh);
            let p = AttnHead { head_dim: hd, n_kv: pos0 + t + 1, kv_stride: nkv * hd, kv_off: (h / group) * hd, scale: a.scale, batched: nt > 1 };
            let qh = qv.sub(it * hd * 4, hd * 4);
            let oh = ov.sub(it * hd * 4, hd * 4);
            if simd {
                simd128::misc::attention_head(qh, kv, vv, oh, e, &p)
            } else {
                scalar::attention_head(qh, kv, vv, oh, e, &p)
            }
        }
    });
}

/// `fast.attention` (`scalar_fast::attention_head` per head): work items are (token, KV head, S query heads of
/// its group); the S heads of an item share each K and V row read (S = the largest of 4, 2, 1 dividing the group
/// that still gives at least 4 items per thread in prefill). Decode with SIMD walks the cache once per thread for
/// a range of units of S heads instead (`attention_decode_rmadd`, the same bits). `scratch` holds
/// `max(nth * 4, n_head) * n_ctx` f32.
pub fn attention_fast(simd: bool, ptrs: [u32; 5], a: AttnArgs, ith: u32, nth: u32) {
    const N: &str = "fast.attention";
    let [q, k, v, out, scratch] = ptrs;
    let (nt, pos0, nh, nkv, hd, nctx) =
        (a.n_tok as usize, a.pos0 as usize, a.n_head as usize, a.n_head_kv as usize, a.head_dim as usize, a.n_ctx as usize);
    require(N, nkv > 0 && nh % nkv == 0, format_args!("n_head = {nh} is not a multiple of n_head_kv = {nkv}. fix: check the head counts"));
    require(N, pos0 + nt <= nctx, format_args!("pos0 + n_tok = {} exceeds n_ctx = {nctx}. fix: grow the KV cache or shorten the prompt", pos0 + nt));
    require(N, ith < nth.max(1), format_args!("thread {ith} of {nth}. fix: call through the pool"));
    let qv = Mem::arg(N, "q", q, sz(&[nt, nh, hd, 4]));
    let ov = Mem::arg(N, "out", out, sz(&[nt, nh, hd, 4]));
    let kv = Mem::arg(N, "k", k, sz(&[nctx, nkv, hd, 4]));
    let vv = Mem::arg(N, "v", v, sz(&[nctx, nkv, hd, 4]));
    let group = nh / nkv;
    if nt == 1 && simd && hd % 16 == 0 && nh <= simd128::fast_misc::DECODE_MAX_HEADS {
        // Decode: each thread walks the cache rows once for a contiguous range of units of `sub` query heads (a
        // score row per query head in scratch); the same bits as the per-group items below.
        let rows = nh.max(4 * nth.max(1) as usize);
        let sv = Mem::arg(N, "scratch", scratch, sz(&[rows, nctx, 4]));
        let n1 = nth.max(1) as usize;
        // Four query heads per pass when the group allows (measured faster than two, whose 8 accumulators would fit
        // x64's 16 SIMD registers: each K/V vector then feeds twice as many multiply-adds), unless only two per
        // pass split the units evenly over the threads: 2B4T's 5 KV heads on 2 threads are 3 + 2 units of four
        // heads but 5 + 5 of two, each score pass then on four rows (0.86-0.90x time at position 512,
        // docs/performance.md "Kernel log").
        let fits = |s: usize| group % s == 0;
        let even = |s: usize| fits(s) && (nkv * group / s) % n1 == 0;
        let sub = [4, 2].into_iter().find(|&s| even(s)).or_else(|| [4, 2].into_iter().find(|&s| fits(s))).unwrap_or(1);
        let units = nkv * group / sub;
        let p = AttnHead { head_dim: hd, n_kv: pos0 + 1, kv_stride: nkv * hd, kv_off: 0, scale: a.scale, batched: false };
        for_chunks(units, (units + n1 - 1) / n1, nth, |u0, u1| match sub {
            4 => simd128::fast_misc::attention_decode_rmadd::<4, 2>(qv, kv, vv, ov, sv, nctx, group, u0, u1, &p),
            2 => simd128::fast_misc::attention_decode_rmadd::<2, 4>(qv, kv, vv, ov, sv, nctx, group, u0, u1, &p),
            _ => simd128::fast_misc::attention_decode_rmadd::<1, 8>(qv, kv, vv, ov, sv, nctx, group, u0, u1, &p),
        });
        return;
    }
    let sv = Mem::arg(N, "scratch", scratch, sz(&[nth.max(1) as usize, 4, nctx, 4]));
    let e = sv.sub(ith as usize * 4 * nctx * 4, 4 * nctx * 4);
    // One token without SIMD (or an odd head size) still picks S for the items (at least 4 per thread).
    let items_wanted = if nt == 1 { 1 } else { 4 * nth.max(1) as usize };
    let mut sub = 1;
    for s in [4usize, 2] {
        if group % s == 0 && nt * nkv * (group / s) >= items_wanted {
            sub = s;
            break;
        }
    }
    let per = group / sub;
    for_chunks(nt * nkv * per, 1, nth, |s, en| {
        for it in s..en {
            let (t, rest) = (it / (nkv * per), it % (nkv * per));
            let (kh, part) = (rest / per, rest % per);
            let h0 = kh * group + part * sub;
            let p = AttnHead { head_dim: hd, n_kv: pos0 + t + 1, kv_stride: nkv * hd, kv_off: kh * hd, scale: a.scale, batched: nt > 1 };
            let qh = |g: usize| qv.sub(((t * nh) + h0 + g) * hd * 4, hd * 4);
            let oh = |g: usize| ov.sub(((t * nh) + h0 + g) * hd * 4, hd * 4);
            if !simd || hd % 16 != 0 {
                for g in 0..sub {
                    crate::scalar_fast::attention_head(qh(g), kv, vv, oh(g), e, &p);
                }
                continue;
            }
            match sub {
                4 => simd128::fast_misc::attention_group_rmadd::<4>(core::array::from_fn(qh), kv, vv, core::array::from_fn(oh), e, nctx, &p),
                2 => simd128::fast_misc::attention_group_rmadd::<2>(core::array::from_fn(qh), kv, vv, core::array::from_fn(oh), e, nctx, &p),
                _ => simd128::fast_misc::attention_group_rmadd::<1>([qh(0)], kv, vv, [oh(0)], e, nctx, &p),
            }
        }
    });
}

/// `fast.swiglu` (`scalar_fast::swiglu`).
pub fn swiglu_fast(simd: bool, a: u32, b: u32, y: u32, n: u32, nth: u32) {
    const N: &str = "fast.swiglu";
    let n = n as usize;
    let av = Mem::arg(N, "g", a, sz(&[n, 4]));
    let bv = Mem::arg(N, "u", b, sz(&[n, 4]));
    let yv = Mem::arg(N, "y", y, sz(&[n, 4]));
    for_chunks(n, 4096, nth, |s, e| {
        if simd {
            simd128::fast_misc::swiglu_rmadd(av, bv, yv, s, e)
        } else {
            crate::scalar_fast::swiglu(av, bv, yv, s, e)
        }
    });
}

pub fn binary(simd: bool, op: Unary, a: u32, b: u32, y: u32, n: u32, nth: u32) {
    let name = match op {
        Unary::SwiGlu => "swiglu",
        Unary::Relu2Glu => "relu2_glu",
        Unary::Add => "add",
    };
    let n = n as usize;
    let av = Mem::arg(name, "a", a, sz(&[n, 4]));
    let bv = Mem::arg(name, "b", b, sz(&[n, 4]));
    let yv = Mem::arg(name, "y", y, sz(&[n, 4]));
    for_chunks(n, 4096, nth, |s, e| {
        if simd {
            simd128::misc::binary(op, av, bv, yv, s, e)
        } else {
            scalar::binary(op, av, bv, yv, s, e)
        }
    });
}

pub fn mul_scalar(simd: bool, x: u32, s: u32, y: u32, n: u32, nth: u32) {
    const N: &str = "mul_scalar";
    let n = n as usize;
    let xv = Mem::arg(N, "x", x, sz(&[n, 4]));
    let s = Mem::arg(N, "s", s, 4).f32(0);
    let yv = Mem::arg(N, "y", y, sz(&[n, 4]));
    for_chunks(n, 4096, nth, |i0, i1| {
        if simd {
            simd128::misc::mul_scalar(xv, s, yv, i0, i1)
        } else {
            scalar::mul_scalar(xv, s, yv, i0, i1)
        }
    });
}

/// Test helper: `v_expf4` over `n` f32 values in place (the tail with the scalar `v_expf`).
pub fn v_expf_in_place(x: u32, n: u32) {
    let n = n as usize;
    let xv = Mem::arg("v_expf4_f32", "x", x, sz(&[n, 4]));
    let f = simd128::F64Fma::new();
    let mut i = 0;
    while i + 4 <= n {
        xv.set_v128(4 * i, simd128::misc::v_expf4(xv.v128(4 * i), f));
        i += 4;
    }
    while i < n {
        xv.set_f32_at(i, crate::ggml::v_expf(xv.f32_at(i)));
        i += 1;
    }
}



/// `probe.read`: streams `n` bytes at `x` (n % 64 == 0; 64 KiB chunks over the threads) and adds the wrapping
/// sum of their u32 words to the u32 at `out` (atomically: the result does not depend on the split). The
/// memory-bandwidth probe of the benchmarks: four independent 16-byte loads per 64 bytes, one add each.
pub fn probe_read(x: u32, n: u32, out: u32, nth: u32) {
    const N: &str = "probe.read";
    let n = n as usize;
    require(N, n % 64 == 0, format_args!("n = {n} is not a multiple of 64. fix: round the byte count"));
    let xv = Mem::arg(N, "x", x, n as u64);
    let ov = Mem::arg(N, "out", out, 4);
    require(N, out % 4 == 0, format_args!("out = {out} is not 4-byte aligned. fix: allocate it with alloc()"));
    for_chunks(n / 64, 1024, nth, |s, e| {
        let mut a = [core::arch::wasm32::i32x4_splat(0); 4];
        for c in xv.sub(s * 64, (e - s) * 64).chunks(64) {
            for (m, am) in a.iter_mut().enumerate() {
                *am = core::arch::wasm32::i32x4_add(*am, c.v128(16 * m));
            }
        }
        use core::arch::wasm32::i32x4_add;
        let v = simd128::hsum_i32(i32x4_add(i32x4_add(a[0], a[1]), i32x4_add(a[2], a[3])));
        ov.atomic_add_u32(0, v as u32);
    });
}
