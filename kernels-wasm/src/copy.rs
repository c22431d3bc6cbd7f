//! `copy`: `n` bytes from `x` to `y` inside the arena (the engine's in-arena moves, e.g. K and V of a fused
//! single-token projection into the KV cache, are kernels so that backends without a host-visible arena
//! can run them). The regions must not overlap.

use crate::sched::for_chunks;
use crate::view::Mem;

/// Bytes per work chunk: 16 KiB.
const CHUNK: usize = 16384;

/// Entry of `copy` / `copy__scalar`: `simd` moves 16 bytes at a time, the twin one byte at a time.
pub fn copy(simd: bool, x: u32, y: u32, n: u32, nth: u32) {
    const N: &str = "copy";
    let n = n as usize;
    let (xs, ys) = (x as u64, y as u64);
    if n > 0 && xs < ys + n as u64 && ys < xs + n as u64 {
        panic!("{N}: regions x = [{xs}, {}) and y = [{ys}, {}) overlap. fix: copy through a scratch buffer", xs + n as u64, ys + n as u64);
    }
    let xv = Mem::arg(N, "x", x, n as u64);
    let yv = Mem::arg(N, "y", y, n as u64);
    for_chunks(n, CHUNK, nth, |s, e| {
        let mut i = s;
        if simd {
            while i + 16 <= e {
                yv.set_v128(i, xv.v128(i));
                i += 16;
            }
        }
        while i < e {
            yv.set_u8(i, xv.u8(i));
            i += 1;
        }
    });
}
