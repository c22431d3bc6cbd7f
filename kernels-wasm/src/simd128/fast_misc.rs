//! `fast` numerics profile: weight repacking, attention and element-wise kernels.

use super::ternary::{times3, trit, trits_qh};
use crate::blocks::*;
use crate::scalar_fast::x2_block;
use crate::view::{Mem, Scratch};
use core::arch::wasm32::*;

/// `scalar_fast::repack_tq1_0` with SIMD trit extraction (ternary.rs) and plane packing: the 256 codes of a
/// block go to a 256-byte stack buffer in element order, then each 16-byte TQ2_0 chunk is `c0 | c1 << 2 | c2 << 4
/// | c3 << 6` of four 16-element slices (codes <= 2, so the 16-bit shifts carry nothing across bytes).
pub fn repack_tq1_0(src: Mem, dst: Mem, n_out: usize, k: usize, r0: usize, r1: usize) {
    let nb = k / QK_K;
    let mut scratch = Scratch::<QK_K>::new();
    let c = scratch.mem();
    for o in r0..r1 {
        for b in 0..nb {
            let sb = src.sub((o * nb + b) * TQ1_0_BYTES, TQ1_0_BYTES);
            let db = dst.sub(x2_block(o, b, n_out, nb, TQ2_0_BYTES), TQ2_0_BYTES);
            for (from, base, stride) in [(0usize, 0usize, 32usize), (16, 16, 32), (32, 160, 16)] {
                let mut m = sb.v128(from);
                for l in 0..5 {
                    c.set_v128(base + l * stride, trit(m));
                    m = times3(m);
                }
            }
            c.set_v128(240, trits_qh(sb));
            for j in 0..4 {
                let at = (j / 2) * 128 + (j % 2) * 16;
                let v = |n: usize| c.v128(at + 32 * n);
                let q = v128_or(v128_or(v(0), i16x8_shl(v(1), 2)), v128_or(i16x8_shl(v(2), 4), i16x8_shl(v(3), 6)));
                db.set_v128(16 * j, q);
            }
            db.set_u16(TQ2_0_D, sb.u16(TQ1_0_D));
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Attention and element-wise kernels (fast order, `scalar_fast` has the definitions).

use super::madd;
use crate::ggml::{EXP_C1, EXP_C2, EXP_C3, EXP_C4, EXP_C5, EXP_LN2_HI, EXP_LN2_LO, EXP_LOG2E, EXP_R};

/// `exp(x)` on 4 lanes (`scalar_fast::exp_fast`): x clamped to [-87, 88], Arm optimized-routines' polynomial (as
/// ggml's `ggml_v_expf`) with native multiply-adds, `2^n` built from the exponent bits. NaN stays NaN.
#[inline(always)]
pub fn exp4(x: v128) -> v128 {
    let c = |b: u32| f32x4_splat(f32::from_bits(b));
    let x = f32x4_pmin(f32x4_pmax(x, f32x4_splat(-87.0)), f32x4_splat(88.0));
    let z = madd(x, c(EXP_LOG2E), c(EXP_R));
    let n = f32x4_sub(z, c(EXP_R));
    let nn = f32x4_neg(n);
    let b = madd(nn, c(EXP_LN2_HI), x);
    let b = madd(nn, c(EXP_LN2_LO), b);
    let u = f32x4_mul(b, b);
    let t1 = madd(c(EXP_C5), b, c(EXP_C4));
    let t2 = madd(c(EXP_C3), b, c(EXP_C2));
    let t4 = madd(c(EXP_C1), b, f32x4_splat(1.0));
    let j = madd(madd(t1, u, t2), u, t4);
    let k = i32x4_add(i32x4_shl(z, 23), i32x4_splat(0x3f80_0000));
    f32x4_mul(j, k)
}

/// Attention of S query heads that share one KV head (`scalar_fast::attention_group`): K and V rows are read
/// once for the S heads. `q[g]`, `out[g]`: head_dim f32; `e`: S * n_ctx f32 of scratch. `head_dim % 16 == 0`.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn attention_group_rmadd<const S: usize>(q: [Mem; S], k: Mem, v: Mem, out: [Mem; S], e: Mem, n_ctx: usize, p: &crate::scalar::AttnHead) {
    let (hd, n) = (p.head_dim, p.n_kv);
    let z = f32x4_splat(0.0);
    let es: [Mem; S] = core::array::from_fn(|g| e.sub(g * n_ctx * 4, n_ctx * 4));
    for j in 0..n {
        let kj = k.sub((j * p.kv_stride + p.kv_off) * 4, hd * 4);
        let mut acc = [[z; 4]; S];
        let mut i = 0;
        while i < hd {
            let kc = kj.sub(4 * i, 64);
            let kv: [v128; 4] = core::array::from_fn(|m| kc.v128(16 * m));
            unroll!(S, g => {
                let qc = q[g].sub(4 * i, 64);
                for m in 0..4 {
                    acc[g][m] = madd(kv[m], qc.v128(16 * m), acc[g][m]);
                }
            });
            i += 16;
        }
        for g in 0..S {
            let a = f32x4_add(f32x4_add(acc[g][0], acc[g][1]), f32x4_add(acc[g][2], acc[g][3]));
            es[g].set_f32_at(j, super::fast_ternary::hsum4(a) * p.scale);
        }
    }
    let n4 = n / 4 * 4;
    let mut inv = [0.0f32; S];
    for g in 0..S {
        let eg = es[g];
        let mut mx = f32::NEG_INFINITY;
        for jj in 0..n {
            let s = eg.f32_at(jj);
            if s > mx {
                mx = s;
            }
        }
        let vm = f32x4_splat(mx);
        let mut sv = z;
        let mut jj = 0;
        while jj < n4 {
            let x = exp4(f32x4_sub(eg.v128(4 * jj), vm));
            eg.set_v128(4 * jj, x);
            sv = f32x4_add(sv, x);
            jj += 4;
        }
        let mut sum = super::fast_ternary::hsum4(sv);
        while jj < n {
            let x = f32x4_extract_lane::<0>(exp4(f32x4_splat(eg.f32_at(jj) - mx)));
            eg.set_f32_at(jj, x);
            sum += x;
            jj += 1;
        }
        inv[g] = 1.0 / sum;
    }
    // Weighted sum in blocks of JB cache rows: the block's V rows (JB * head_dim * 4 bytes) stay in L1 while each
    // 16-output slice runs its chains over them, the chains parked in `out` between blocks (the same sums in the
    // same order as one pass per slice over all rows, which re-streams V from L3 once per slice: 6x slower at
    // 2048 rows).
    const JB: usize = 32;
    for g in 0..S {
        let mut d = 0;
        while d < hd {
            out[g].set_v128(4 * d, z);
            d += 4;
        }
    }
    let mut jb = 0;
    while jb < n {
        let je = if n - jb > JB { jb + JB } else { n };
        let mut d = 0;
        while d < hd {
            let mut acc: [[v128; 4]; S] = core::array::from_fn(|g| core::array::from_fn(|m| out[g].v128(4 * d + 16 * m)));
            for j in jb..je {
                let vj = v.sub((j * p.kv_stride + p.kv_off + d) * 4, 64);
                let vv: [v128; 4] = core::array::from_fn(|m| vj.v128(16 * m));
                unroll!(S, g => {
                    let pj = f32x4_splat(es[g].f32_at(j));
                    for m in 0..4 {
                        acc[g][m] = madd(vv[m], pj, acc[g][m]);
                    }
                });
            }
            for g in 0..S {
                for m in 0..4 {
                    out[g].set_v128(4 * d + 16 * m, acc[g][m]);
                }
            }
            d += 16;
        }
        jb = je;
    }
    for g in 0..S {
        let vi = f32x4_splat(inv[g]);
        let mut d = 0;
        while d < hd {
            out[g].set_v128(4 * d, f32x4_mul(out[g].v128(4 * d), vi));
            d += 4;
        }
    }
}

/// Most query heads [`attention_decode_rmadd`] takes (its per-head `1 / sum` live on the stack).
pub const DECODE_MAX_HEADS: usize = 256;

/// Decode attention (one token) for the work units `u0..u1`: unit `u` is the S query heads `u * S .. u * S + S`,
/// all of KV head `u / (group / S)` (a KV head has `group` query heads, so `group / S` units). The same sums in the
/// same order per head as [`attention_group_rmadd`] (so the same bits, whatever S and the units), but the cache
/// rows are walked once for the whole range, each row's K (then V) slices of the range's KV heads read together. A
/// thread then streams its contiguous part of every cache row instead of one head's `head_dim * 4` bytes per
/// `n_head_kv * head_dim * 4`-byte row, which the hardware prefetcher does not follow across pages (2B4T shape,
/// 30 layers at position 2048: 4-5 GB/s per-head, docs/performance.md "Kernel log"). `q`, `out`: the token's
/// `n_head * head_dim` f32; `e`: one `n_ctx` f32 score row per query head. `head_dim % 16 == 0`.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn attention_decode_rmadd<const S: usize, const R: usize>(
    q: Mem,
    k: Mem,
    v: Mem,
    out: Mem,
    e: Mem,
    n_ctx: usize,
    group: usize,
    u0: usize,
    u1: usize,
    p: &crate::scalar::AttnHead,
) {
    let (hd, n, stride) = (p.head_dim, p.n_kv, p.kv_stride);
    let z = f32x4_splat(0.0);
    let parts = group / S;
    // Scores, R cache rows per pass and one lane group m (lanes 4m..4m+3 of the 16-lane chains) at a time: the
    // rows' K vectors feed the S heads' chains of that group, R * S accumulators (8: R = 2 at S = 4, R = 4 at
    // S = 2) plus R K vectors and a q vector, which fit x64's 16 SIMD registers (all four groups at once, 16
    // accumulators per row, spill), and 8 independent chains keep both FMA pipes busy. Each chain still sees the
    // same multiply-adds in the same order (the bits of `attention_group_rmadd`). Past the last row, a pass
    // repeats row j and drops those sums.
    let mut j = 0;
    while j < n {
        let nr = if n - j >= R { R } else { n - j };
        for u in u0..u1 {
            let (kh, part) = (u / parts, u % parts);
            let kr: [Mem; R] = core::array::from_fn(|r| {
                let jr = if r < nr { j + r } else { j };
                k.sub((jr * stride + kh * hd) * 4, hd * 4)
            });
            let h0 = kh * group + part * S;
            let qh: [Mem; S] = core::array::from_fn(|g| q.sub((h0 + g) * hd * 4, hd * 4));
            let mut f = [[[z; 4]; S]; R];
            for m in 0..4 {
                let mut acc = [[z; S]; R];
                let mut i = 4 * m;
                while i < hd {
                    let x: [v128; R] = core::array::from_fn(|r| kr[r].v128(4 * i));
                    unroll!(S, g => {
                        let qv = qh[g].v128(4 * i);
                        for r in 0..R {
                            acc[r][g] = madd(x[r], qv, acc[r][g]);
                        }
                    });
                    i += 16;
                }
                for r in 0..R {
                    for g in 0..S {
                        f[r][g][m] = acc[r][g];
                    }
                }
            }
            for r in 0..nr {
                for g in 0..S {
                    let a = f32x4_add(f32x4_add(f[r][g][0], f[r][g][1]), f32x4_add(f[r][g][2], f[r][g][3]));
                    e.set_f32_at((h0 + g) * n_ctx + j + r, super::fast_ternary::hsum4(a) * p.scale);
                }
            }
        }
        j += R;
    }
    let n4 = n / 4 * 4;
    let mut inv = [0.0f32; DECODE_MAX_HEADS];
    for h in u0 * S..u1 * S {
        let eg = e.sub(h * n_ctx * 4, n_ctx * 4);
        let mut mx = f32::NEG_INFINITY;
        for jj in 0..n {
            let s = eg.f32_at(jj);
            if s > mx {
                mx = s;
            }
        }
        let vm = f32x4_splat(mx);
        let mut sv = z;
        let mut jj = 0;
        while jj < n4 {
            let x = exp4(f32x4_sub(eg.v128(4 * jj), vm));
            eg.set_v128(4 * jj, x);
            sv = f32x4_add(sv, x);
            jj += 4;
        }
        let mut sum = super::fast_ternary::hsum4(sv);
        while jj < n {
            let x = f32x4_extract_lane::<0>(exp4(f32x4_splat(eg.f32_at(jj) - mx)));
            eg.set_f32_at(jj, x);
            sum += x;
            jj += 1;
        }
        inv[h] = 1.0 / sum;
        let oh = out.sub(h * hd * 4, hd * 4);
        let mut d = 0;
        while d < hd {
            oh.set_v128(4 * d, z);
            d += 4;
        }
    }
    // Weighted sum in blocks of JB cache rows (the block's V slices of the range's KV heads, at most
    // JB * (u1 - u0) * head_dim * 4 bytes, stay in L1 while each 16-output slice runs its chain over them; the chains are parked in `out`
    // between blocks, so each output is one chain in row order, as in `attention_group_rmadd`).
    const JB: usize = 16;
    let mut jb = 0;
    while jb < n {
        let je = if n - jb > JB { jb + JB } else { n };
        for u in u0..u1 {
            let (kh, part) = (u / parts, u % parts);
            let h0 = kh * group + part * S;
            let mut d = 0;
            while d < hd {
                let mut acc: [[v128; 4]; S] =
                    core::array::from_fn(|g| core::array::from_fn(|m| out.v128(((h0 + g) * hd + d) * 4 + 16 * m)));
                for j in jb..je {
                    let vj = v.sub((j * stride + kh * hd + d) * 4, 64);
                    let vv: [v128; 4] = core::array::from_fn(|m| vj.v128(16 * m));
                    unroll!(S, g => {
                        let pj = f32x4_splat(e.f32_at((h0 + g) * n_ctx + j));
                        for m in 0..4 {
                            acc[g][m] = madd(vv[m], pj, acc[g][m]);
                        }
                    });
                }
                for g in 0..S {
                    for m in 0..4 {
                        out.set_v128(((h0 + g) * hd + d) * 4 + 16 * m, acc[g][m]);
                    }
                }
                d += 16;
            }
        }
        jb = je;
    }
    for h in u0 * S..u1 * S {
        let vi = f32x4_splat(inv[h]);
        let oh = out.sub(h * hd * 4, hd * 4);
        let mut d = 0;
        while d < hd {
            oh.set_v128(4 * d, f32x4_mul(oh.v128(4 * d), vi));
            d += 4;
        }
    }
}

/// `y = silu(g) * u` with `silu(x) = x / (1 + exp4(-x))` (`scalar_fast::swiglu`).
#[inline(never)]
pub fn swiglu_rmadd(a: Mem, b: Mem, y: Mem, s: usize, e: usize) {
    let mut i = s;
    let one = f32x4_splat(1.0);
    while i + 4 <= e {
        let x = a.v128(4 * i);
        let v = f32x4_mul(f32x4_div(x, f32x4_add(one, exp4(f32x4_neg(x)))), b.v128(4 * i));
        y.set_v128(4 * i, v);
        i += 4;
    }
    while i < e {
        let x = a.f32_at(i);
        let ex = f32x4_extract_lane::<0>(exp4(f32x4_splat(-x)));
        y.set_f32_at(i, (x / (1.0 + ex)) * b.f32_at(i));
        i += 1;
    }
}
