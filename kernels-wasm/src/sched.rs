//! Work distribution inside one dispatch: the threads of a dispatch take chunks of output rows from a
//! shared atomic counter (as ggml's `current_chunk`), so a thread that wakes late simply takes fewer
//! chunks. Every output element is still computed by exactly one thread with the same arithmetic, so
//! results do not depend on the thread count or on which thread took which chunk.
//!
//! The counter lives in linear memory (a static), shared by every instance. The pool resets it to 0
//! before each dispatch with more than one thread (`sched_counter_offset` tells it where).

use crate::view::Mem;
use core::sync::atomic::{AtomicU32, Ordering};

static NEXT_CHUNK: AtomicU32 = AtomicU32::new(0);

/// Byte offset of the chunk counter in linear memory.
pub fn counter_offset() -> u32 {
    &NEXT_CHUNK as *const AtomicU32 as usize as u32
}

/// Calls `f(start, end)` for the chunks `[c*chunk, min((c+1)*chunk, n))` of `0..n` that this thread takes.
/// With one thread it takes them all in order without touching the counter.
#[inline(always)]
pub fn for_chunks(n: usize, chunk: usize, nth: u32, mut f: impl FnMut(usize, usize)) {
    let chunk = if chunk == 0 { 1 } else { chunk };
    if nth <= 1 {
        let mut s = 0;
        while s < n {
            let e = if n - s > chunk { s + chunk } else { n };
            f(s, e);
            s = e;
        }
        return;
    }
    loop {
        let c = NEXT_CHUNK.fetch_add(1, Ordering::Relaxed) as usize;
        let s = c.saturating_mul(chunk);
        if s >= n {
            return;
        }
        let e = if n - s > chunk { s + chunk } else { n };
        f(s, e);
    }
}

/// Spins (atomic loads) while the u32 at `ptr` equals `seen`, at most `iters` times; returns the last value.
/// Spinning in wasm costs about a nanosecond per load, against tens for `Atomics.load` in a JS loop.
pub fn spin_while_eq(ptr: u32, seen: u32, iters: u32) -> u32 {
    let m = Mem::arg("pool_spin_while_eq", "ptr", ptr, 4);
    let mut v = m.atomic_u32(0);
    let mut i = 0;
    while v == seen && i < iters {
        v = m.atomic_u32(0);
        i += 1;
    }
    v
}

/// Spins while the u32 at `ptr` is below `want`, at most `iters` times; returns the last value.
pub fn spin_while_below(ptr: u32, want: u32, iters: u32) -> u32 {
    let m = Mem::arg("pool_spin_while_below", "ptr", ptr, 4);
    let mut v = m.atomic_u32(0);
    let mut i = 0;
    while v < want && i < iters {
        v = m.atomic_u32(0);
        i += 1;
    }
    v
}
