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
