//! `rope.norm`: RoPE with GGML_ROPE_TYPE_NORMAL pairing, the rotation of the `llama` architecture
//! (llama.cpp `llama_model_rope_type`: LLM_ARCH_LLAMA -> LLAMA_ROPE_TYPE_NORM). Same arguments and RoPE
//! table as `rope.neox`; only the pairing differs: `(2j, 2j + 1)` rotated by angle `j`
//! (ggml-cpu/ops.cpp `rotate_pairs(n_dims, 1, cache, src, dst, 1)`).
//!
//! Both exports run the scalar loop: adjacent pairs need lane shuffles to vectorize, and RoPE is a few
//! hundred nanoseconds of a token's milliseconds.

use crate::ggml::fma32;
use crate::sched::for_chunks;
use crate::view::Mem;

/// NORMAL RoPE of one head in place: pair (2j, 2j+1) with `cs[j]` (cosine) and `cs[n_rot/2 + j]` (sine);
/// dims n_rot..head_dim unchanged. GCC contracts `x0*cos - x1*sin` into `fma(x0, cos, -(x1*sin))` and
/// `x0*sin + x1*cos` into `fma(x0, sin, x1*cos)`, as for NEOX (`scalar::rope_neox_head`).
pub fn rope_norm_head(xh: Mem, cs: Mem, n_rot: usize) {
    let half = n_rot / 2;
    for j in 0..half {
        let c = cs.f32_at(j);
        let s = cs.f32_at(half + j);
        let x0 = xh.f32_at(2 * j);
        let x1 = xh.f32_at(2 * j + 1);
        xh.set_f32_at(2 * j, fma32(x0, c, -(x1 * s)));
        xh.set_f32_at(2 * j + 1, fma32(x0, s, x1 * c));
    }
}

/// Entry of `rope_norm` / `rope_norm__scalar`: checks, then heads split over the threads.
pub fn rope_norm(x: u32, cs: u32, n_tok: u32, n_head: u32, head_dim: u32, n_rot: u32, nth: u32) {
    const N: &str = "rope.norm";
    let (nt, nh, hd, nr) = (n_tok as usize, n_head as usize, head_dim as usize, n_rot as usize);
    if nr % 2 != 0 || nr > hd {
        panic!("{N}: n_rot = {nr} must be even and <= head_dim = {hd}. fix: check rope.dimension_count");
    }
    let xv = Mem::arg(N, "x", x, nt as u64 * nh as u64 * hd as u64 * 4);
    let csv = Mem::arg(N, "cs", cs, nt as u64 * nr as u64 * 4);
    let items = nt * nh;
    for_chunks(items, (items / (4 * nth.max(1) as usize)).max(1), nth, |s, e| {
        for it in s..e {
            rope_norm_head(xv.sub(it * hd * 4, hd * 4), csv.sub((it / nh) * nr * 4, nr * 4), nr);
        }
    });
}
