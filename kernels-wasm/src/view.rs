//! Checked views of the shared linear memory: the only place in the crate that dereferences pointers.
//!
//! Kernel arguments are byte offsets into the arena. `Mem::arg` checks that a whole argument region lies
//! inside linear memory (naming the kernel and argument when it does not); every access through a view
//! is then bounds-checked against that region, so out-of-range indexing traps with a message instead of
//! reading or writing another tensor. Views hold raw pointers, not Rust references: several threads
//! write disjoint elements of one output region at the same time, and some kernels run in place
//! (input region == output region), which `&`/`&mut` slices could not express soundly.

use core::arch::wasm32::{memory_size, v128, v128_load, v128_store};
use core::sync::atomic::{AtomicU32, Ordering};

/// Bytes of linear memory right now (memory 0; up to 4 GiB, hence u64).
pub fn arena_bytes() -> u64 {
    memory_size(0) as u64 * 65536
}

#[cold]
#[inline(never)]
fn outside(off: usize, n: usize, len: usize) -> ! {
    panic!(
        "view access of {n} bytes at offset {off} is outside its {len}-byte region: a kernel's argument \
         check missed this shape. fix: report it with the kernel's arguments"
    )
}

/// A bounds-checked region of linear memory.
#[derive(Clone, Copy)]
pub struct Mem {
    ptr: *mut u8,
    len: usize,
}

impl Mem {
    /// View of kernel argument `arg` = `[ptr, ptr + len)`.
    ///
    /// Panics (naming `kernel` and `arg`) when the offset is 0 or the region ends past linear memory.
    pub fn arg(kernel: &str, arg: &str, ptr: u32, len: u64) -> Mem {
        if ptr == 0 {
            panic!("{kernel}: argument {arg} is offset 0 (null). fix: pass an offset returned by alloc()");
        }
        let end = ptr as u64 + len;
        let have = arena_bytes();
        if end > have {
            panic!(
                "{kernel}: argument {arg} = [{ptr}, {end}) ends past the arena ({have} bytes). fix: check the \
                 shape arguments and allocate the buffer with alloc()"
            );
        }
        Mem { ptr: ptr as usize as *mut u8, len: len as usize }
    }

    #[inline(always)]
    fn check(&self, off: usize, n: usize) {
        if off > self.len || n > self.len - off {
            outside(off, n, self.len);
        }
    }

    /// Sub-region `[off, off + n)`.
    #[inline(always)]
    pub fn sub(&self, off: usize, n: usize) -> Mem {
        self.check(off, n);
        // SAFETY: `check` proved off + n <= len, so the result stays inside this region (an in-bounds offset,
        // which also lets LLVM fold constant offsets of later accesses into the wasm load/store immediates).
        Mem { ptr: unsafe { self.ptr.add(off) }, len: n }
    }

    #[inline(always)]
    pub fn u8(&self, i: usize) -> u8 {
        self.check(i, 1);
        // SAFETY: `check` proved i < len and `arg` proved the region lies in linear memory.
        unsafe { self.ptr.add(i).read() }
    }

    #[inline(always)]
    pub fn i8(&self, i: usize) -> i8 {
        self.u8(i) as i8
    }

    #[inline(always)]
    pub fn u16(&self, i: usize) -> u16 {
        self.check(i, 2);
        // SAFETY: as in `u8`; wasm is little-endian and the read is unaligned.
        unsafe { (self.ptr.add(i) as *const u16).read_unaligned() }
    }

    #[inline(always)]
    pub fn i16(&self, i: usize) -> i16 {
        self.u16(i) as i16
    }

    #[inline(always)]
    pub fn u32(&self, i: usize) -> u32 {
        self.check(i, 4);
        // SAFETY: as in `u16`.
        unsafe { (self.ptr.add(i) as *const u32).read_unaligned() }
    }

    #[inline(always)]
    pub fn i32(&self, i: usize) -> i32 {
        self.u32(i) as i32
    }

    #[inline(always)]
    pub fn f32(&self, i: usize) -> f32 {
        f32::from_bits(self.u32(i))
    }

    /// f32 element `i` (byte offset `4 * i`).
    #[inline(always)]
    pub fn f32_at(&self, i: usize) -> f32 {
        self.f32(4 * i)
    }

    /// 16 bytes at byte offset `i` (unaligned).
    #[inline(always)]
    pub fn v128(&self, i: usize) -> v128 {
        self.check(i, 16);
        // SAFETY: as in `u8`; v128_load emits an alignment-1 load.
        unsafe { v128_load(self.ptr.add(i) as *const v128) }
    }

    #[inline(always)]
    pub fn set_u8(&self, i: usize, v: u8) {
        self.check(i, 1);
        // SAFETY: as in `u8`. Threads write disjoint elements (see the module comment).
        unsafe { self.ptr.add(i).write(v) }
    }

    #[inline(always)]
    pub fn set_u16(&self, i: usize, v: u16) {
        self.check(i, 2);
        // SAFETY: as in `set_u8`.
        unsafe { (self.ptr.add(i) as *mut u16).write_unaligned(v) }
    }

    #[inline(always)]
    pub fn set_u32(&self, i: usize, v: u32) {
        self.check(i, 4);
        // SAFETY: as in `set_u8`.
        unsafe { (self.ptr.add(i) as *mut u32).write_unaligned(v) }
    }

    #[inline(always)]
    pub fn set_u64(&self, i: usize, v: u64) {
        self.check(i, 8);
        // SAFETY: as in `set_u8`.
        unsafe { (self.ptr.add(i) as *mut u64).write_unaligned(v) }
    }

    #[inline(always)]
    pub fn set_f32(&self, i: usize, v: f32) {
        self.set_u32(i, v.to_bits())
    }

    /// Writes f32 element `i` (byte offset `4 * i`).
    #[inline(always)]
    pub fn set_f32_at(&self, i: usize, v: f32) {
        self.set_f32(4 * i, v)
    }

    /// Sequentially consistent load of the u32 at byte offset `i` (4-byte aligned).
    #[inline(always)]
    pub fn atomic_u32(&self, i: usize) -> u32 {
        self.check(i, 4);
        if (self.ptr as usize + i) % 4 != 0 {
            outside(i, 4, self.len);
        }
        // SAFETY: in bounds (checked above) and aligned; AtomicU32 has the layout of u32, and every access
        // to these words from JavaScript goes through Atomics as well.
        unsafe { (*(self.ptr.add(i) as *const AtomicU32)).load(Ordering::SeqCst) }
    }

    /// Atomically adds `v` (wrapping) to the u32 at byte offset `i` (4-byte aligned).
    #[inline(always)]
    pub fn atomic_add_u32(&self, i: usize, v: u32) {
        self.check(i, 4);
        if (self.ptr as usize + i) % 4 != 0 {
            outside(i, 4, self.len);
        }
        // SAFETY: as in `atomic_u32`.
        unsafe { (*(self.ptr.add(i) as *const AtomicU32)).fetch_add(v, Ordering::SeqCst) };
    }

    /// 8 bytes at byte offset `i` into the low half of a v128 (high half zero).
    #[inline(always)]
    pub fn v64(&self, i: usize) -> v128 {
        self.check(i, 8);
        // SAFETY: as in `u8`; v128_load64_zero emits an alignment-1 8-byte load.
        unsafe { core::arch::wasm32::v128_load64_zero(self.ptr.add(i) as *const u64) }
    }

    /// The 8 bytes at byte offset `i` in both halves of a v128 (`v128.load64_splat`).
    #[inline(always)]
    pub fn v64_splat(&self, i: usize) -> v128 {
        self.check(i, 8);
        // SAFETY: as in `u8`; an alignment-1 8-byte load.
        unsafe { core::arch::wasm32::v128_load64_splat(self.ptr.add(i) as *const u64) }
    }

    /// Stores 16 bytes at byte offset `i` (unaligned).
    #[inline(always)]
    pub fn set_v128(&self, i: usize, v: v128) {
        self.check(i, 16);
        // SAFETY: as in `set_u8`; v128_store emits an alignment-1 store.
        unsafe { v128_store(self.ptr.add(i) as *mut v128, v) }
    }
}

/// Consecutive `size`-byte sub-views of a region (`Mem::chunks`): one length test per step, no panics.
#[derive(Clone, Copy)]
pub struct Chunks {
    ptr: *mut u8,
    left: usize,
    size: usize,
}

impl Iterator for Chunks {
    type Item = Mem;
    #[inline(always)]
    fn next(&mut self) -> Option<Mem> {
        if self.left < self.size {
            return None;
        }
        let m = Mem { ptr: self.ptr, len: self.size };
        // SAFETY: size <= left, so [ptr, ptr + size) lies inside the region the iterator was made from.
        self.ptr = unsafe { self.ptr.add(self.size) };
        self.left -= self.size;
        Some(m)
    }
}

impl Mem {
    /// The region as consecutive `size`-byte views (a shorter tail is not visited). `size` must be > 0.
    #[inline(always)]
    pub fn chunks(&self, size: usize) -> Chunks {
        Chunks { ptr: self.ptr, left: if size == 0 { 0 } else { self.len }, size: size.max(1) }
    }
}

/// A per-thread scratch buffer on the thread's own stack, used as a `Mem`.
pub struct Scratch<const N: usize> {
    buf: [u8; N],
}

impl<const N: usize> Scratch<N> {
    #[inline(always)]
    pub fn new() -> Scratch<N> {
        Scratch { buf: [0u8; N] }
    }

    /// View of the whole buffer. The view must not outlive `self` (it is only used inside one call).
    #[inline(always)]
    pub fn mem(&mut self) -> Mem {
        Mem { ptr: self.buf.as_mut_ptr(), len: N }
    }
}


