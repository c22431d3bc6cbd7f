//! BitNet kernels for WebAssembly (SIMD128, optionally relaxed SIMD), shared-memory multi-threaded.
//!
//! This file holds only the exports. Each kernel `<name>` (kernel id with `.` -> `_`, see ABI.md) takes
//! byte offsets and counts, then `(ith, nth)`, and has a scalar twin `<name>__scalar` with the same
//! arguments and the same bytes of output. Modules: `view` (checked memory access, the only `unsafe`),
//! `blocks` (formats), `ggml` (llama.cpp's x86 float order), `num` (conversions), `scalar` (twins),
//! `simd128` (fast paths), `ops`
//! (argument checks and thread split), `sched` (work distribution), `panic` (trap messages).

#![no_std]

mod blocks;
mod copy;
mod ggml;
mod i2s_f32;
mod num;
mod ops;
mod panic;
mod rope_norm;
mod scalar;
mod scalar_fast;
mod sched;
mod simd128;
mod view;

use ops::{AttnArgs, Wt};
use scalar::{RowType, Unary};

/// Defines a SIMD export and its scalar twin:
/// `pair!(simd_name, scalar_name, (args...) => |simd, ith, nth| body)`.
macro_rules! pair {
    ($simd:ident, $scalar:ident, ($($a:ident: $t:ty),*) => |$s:ident, $ith:ident, $nth:ident| $body:expr) => {
        #[no_mangle]
        #[allow(unused_variables)]
        pub extern "C" fn $simd($($a: $t,)* $ith: u32, $nth: u32) {
            let $s = true;
            $body
        }
        #[no_mangle]
        #[allow(unused_variables)]
        pub extern "C" fn $scalar($($a: $t,)* $ith: u32, $nth: u32) {
            let $s = false;
            $body
        }
    };
}

pair!(quantize_q8_k, quantize_q8_k__scalar, (x: u32, y: u32, k: u32, n_rows: u32) => |s, ith, nth| ops::quantize_q8_k(s, x, y, k, n_rows, nth));
pair!(quantize_q8_0, quantize_q8_0__scalar, (x: u32, y: u32, k: u32, n_rows: u32) => |s, ith, nth| ops::quantize_q8_0(s, x, y, k, n_rows, nth));
pair!(quantize_f16, quantize_f16__scalar, (x: u32, y: u32, k: u32, n_rows: u32) => |s, ith, nth| ops::quantize_half(s, true, x, y, k, n_rows, nth));
pair!(quantize_bf16, quantize_bf16__scalar, (x: u32, y: u32, k: u32, n_rows: u32) => |s, ith, nth| ops::quantize_half(s, false, x, y, k, n_rows, nth));
pair!(quantize_i8_s, quantize_i8_s__scalar, (x: u32, y: u32, k: u32, n_rows: u32) => |s, ith, nth| ops::quantize_i8_s(s, x, y, k, n_rows, nth));

pair!(gemm_tq2_0_q8_k, gemm_tq2_0_q8_k__scalar, (w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32) => |s, ith, nth| ops::gemm(s, Wt::Tq2, w, x, y, n_out, k, n_tok, nth));
pair!(gemm_tq1_0_q8_k, gemm_tq1_0_q8_k__scalar, (w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32) => |s, ith, nth| ops::gemm(s, Wt::Tq1, w, x, y, n_out, k, n_tok, nth));
pair!(gemm_q6_k_q8_k, gemm_q6_k_q8_k__scalar, (w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32) => |s, ith, nth| ops::gemm(s, Wt::Q6K, w, x, y, n_out, k, n_tok, nth));
pair!(gemm_q8_0_q8_0, gemm_q8_0_q8_0__scalar, (w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32) => |s, ith, nth| ops::gemm(s, Wt::Q8_0, w, x, y, n_out, k, n_tok, nth));
pair!(gemm_f16_f16, gemm_f16_f16__scalar, (w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32) => |s, ith, nth| ops::gemm(s, Wt::F16, w, x, y, n_out, k, n_tok, nth));
pair!(gemm_bf16_bf16, gemm_bf16_bf16__scalar, (w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32) => |s, ith, nth| ops::gemm(s, Wt::Bf16, w, x, y, n_out, k, n_tok, nth));
pair!(gemm_f32_f32, gemm_f32_f32__scalar, (w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32) => |s, ith, nth| ops::gemm(s, Wt::F32, w, x, y, n_out, k, n_tok, nth));
pair!(gemm_i2_s_i8_s, gemm_i2_s_i8_s__scalar, (w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32) => |s, ith, nth| ops::gemm(s, Wt::I2S, w, x, y, n_out, k, n_tok, nth));

// The `fast` numerics profile (kernel ids `fast.*`).
pair!(fast_gemm_tq2_0x2_q8_k, fast_gemm_tq2_0x2_q8_k__scalar, (w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32) => |s, ith, nth| ops::gemm_fast_tq2(s, w, x, y, n_out, k, n_tok, nth));
pair!(fast_gemm_f16_f32, fast_gemm_f16_f32__scalar, (w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32) => |s, ith, nth| ops::gemm_fast_float(s, true, w, x, y, n_out, k, n_tok, nth));
pair!(fast_gemm_bf16_f32, fast_gemm_bf16_f32__scalar, (w: u32, x: u32, y: u32, n_out: u32, k: u32, n_tok: u32) => |s, ith, nth| ops::gemm_fast_float(s, false, w, x, y, n_out, k, n_tok, nth));
pair!(fast_attention, fast_attention__scalar, (q: u32, k: u32, v: u32, out: u32, scratch: u32, n_tok: u32, pos0: u32, n_head: u32, n_head_kv: u32, head_dim: u32, n_ctx: u32, scale: f32) => |s, ith, nth| ops::attention_fast(s, [q, k, v, out, scratch], AttnArgs { n_tok, pos0, n_head, n_head_kv, head_dim, n_ctx, scale }, ith, nth));
pair!(fast_swiglu, fast_swiglu__scalar, (g: u32, u: u32, y: u32, n: u32) => |s, ith, nth| ops::swiglu_fast(s, g, u, y, n, nth));
pair!(fast_repack_tq2_0x2, fast_repack_tq2_0x2__scalar, (w: u32, n_out: u32, k: u32) => |s, ith, nth| ops::repack_tq2_0x2(w, n_out, k, nth));
pair!(fast_repack_tq1_0_tq2_0x2, fast_repack_tq1_0_tq2_0x2__scalar, (src: u32, dst: u32, n_out: u32, k: u32) => |s, ith, nth| ops::repack_tq1_0(s, src, dst, n_out, k, nth));

// Memory-bandwidth probe (benchmarks).
pair!(probe_read, probe_read__scalar, (x: u32, n: u32, out: u32) => |s, ith, nth| ops::probe_read(x, n, out, nth));

pair!(get_rows_f32, get_rows_f32__scalar, (w: u32, ids: u32, y: u32, k: u32, n_ids: u32) => |s, ith, nth| ops::get_rows(s, RowType::F32, w, ids, y, k, n_ids, nth));
pair!(get_rows_f16, get_rows_f16__scalar, (w: u32, ids: u32, y: u32, k: u32, n_ids: u32) => |s, ith, nth| ops::get_rows(s, RowType::F16, w, ids, y, k, n_ids, nth));
pair!(get_rows_bf16, get_rows_bf16__scalar, (w: u32, ids: u32, y: u32, k: u32, n_ids: u32) => |s, ith, nth| ops::get_rows(s, RowType::Bf16, w, ids, y, k, n_ids, nth));
pair!(get_rows_q8_0, get_rows_q8_0__scalar, (w: u32, ids: u32, y: u32, k: u32, n_ids: u32) => |s, ith, nth| ops::get_rows(s, RowType::Q8_0, w, ids, y, k, n_ids, nth));
pair!(get_rows_q6_k, get_rows_q6_k__scalar, (w: u32, ids: u32, y: u32, k: u32, n_ids: u32) => |s, ith, nth| ops::get_rows(s, RowType::Q6K, w, ids, y, k, n_ids, nth));

pair!(rms_norm, rms_norm__scalar, (x: u32, w: u32, y: u32, k: u32, n_rows: u32, eps: f32) => |s, ith, nth| ops::rms_norm(s, x, w, y, k, n_rows, eps, nth));
pair!(rope_neox, rope_neox__scalar, (x: u32, cs: u32, n_tok: u32, n_head: u32, head_dim: u32, n_rot: u32) => |s, ith, nth| ops::rope_neox(s, x, cs, n_tok, n_head, head_dim, n_rot, nth));
pair!(rope_norm, rope_norm__scalar, (x: u32, cs: u32, n_tok: u32, n_head: u32, head_dim: u32, n_rot: u32) => |s, ith, nth| rope_norm::rope_norm(x, cs, n_tok, n_head, head_dim, n_rot, nth));
pair!(attention, attention__scalar, (q: u32, k: u32, v: u32, out: u32, scratch: u32, n_tok: u32, pos0: u32, n_head: u32, n_head_kv: u32, head_dim: u32, n_ctx: u32, scale: f32) => |s, ith, nth| ops::attention(s, [q, k, v, out, scratch], AttnArgs { n_tok, pos0, n_head, n_head_kv, head_dim, n_ctx, scale }, ith, nth));
pair!(swiglu, swiglu__scalar, (g: u32, u: u32, y: u32, n: u32) => |s, ith, nth| ops::binary(s, Unary::SwiGlu, g, u, y, n, nth));
pair!(relu2_glu, relu2_glu__scalar, (g: u32, u: u32, y: u32, n: u32) => |s, ith, nth| ops::binary(s, Unary::Relu2Glu, g, u, y, n, nth));
pair!(add, add__scalar, (a: u32, b: u32, y: u32, n: u32) => |s, ith, nth| ops::binary(s, Unary::Add, a, b, y, n, nth));
pair!(copy, copy__scalar, (x: u32, y: u32, n: u32) => |s, ith, nth| copy::copy(s, x, y, n, nth));
pair!(mul_scalar, mul_scalar__scalar, (x: u32, s_ptr: u32, y: u32, n: u32) => |s, ith, nth| ops::mul_scalar(s, x, s_ptr, y, n, nth));

/// Byte offset of the work-chunk counter the pool resets before each multi-threaded dispatch.
#[no_mangle]
pub extern "C" fn sched_counter_offset() -> u32 {
    sched::counter_offset()
}

/// Pool helper: spins while the u32 at `ptr` equals `seen` (at most `iters` loads); returns the last value.
#[no_mangle]
pub extern "C" fn pool_spin_while_eq(ptr: u32, seen: u32, iters: u32) -> u32 {
    sched::spin_while_eq(ptr, seen, iters)
}

/// Pool helper: spins while the u32 at `ptr` is below `want` (at most `iters` loads); returns the last value.
#[no_mangle]
pub extern "C" fn pool_spin_while_below(ptr: u32, want: u32, iters: u32) -> u32 {
    sched::spin_while_below(ptr, want, iters)
}

/// Byte offset of the last panic message (UTF-8).
#[no_mangle]
pub extern "C" fn panic_message_offset() -> u32 {
    panic::message_offset()
}

/// Length in bytes of the last panic message.
#[no_mangle]
pub extern "C" fn panic_message_len() -> u32 {
    panic::message_len()
}

/// Forgets the last panic message.
#[no_mangle]
pub extern "C" fn panic_message_clear() {
    panic::clear()
}

/// 1 for the relaxed-SIMD build, 0 for the SIMD128 build.
#[no_mangle]
pub extern "C" fn kernels_flavor() -> u32 {
    simd128::flavor()
}

/// `ggml::v_expf` (one lane of ggml's AVX-512 `ggml_v_expf`), exported for the test against the reference
/// backend's `vExpf`.
#[no_mangle]
pub extern "C" fn v_expf_f32(x: f32) -> f32 {
    ggml::v_expf(x)
}

/// `simd128::misc::v_expf4` on `n` values at byte offset `x` (in place), for the same test.
#[no_mangle]
pub extern "C" fn v_expf4_f32(x: u32, n: u32) {
    ops::v_expf_in_place(x, n)
}
