//! SIMD128 kernels (and, in the relaxed build, relaxed-SIMD ones). Every function here produces exactly the
//! bytes of its twin in `scalar.rs`: integer sums are exact whatever their lane layout, and every float
//! operation is the scalar twin's operation on the same operands in the same order.
//!
//! Shape letters as in `scalar.rs`. All memory goes through `view::Mem` (bounds-checked); the
//! intrinsics themselves are safe functions on wasm.

/// Runs `$body` for `$i` = 0, 1, ..., `$n - 1` (`$n` a constant <= 8), unrolled in the source, so that a
/// tile's accumulator arrays are always indexed by constants (kept in locals, not in linear memory).
macro_rules! unroll {
    ($n:expr, $i:ident => $body:block) => {{
        if 0 < $n { let $i: usize = 0; $body }
        if 1 < $n { let $i: usize = 1; $body }
        if 2 < $n { let $i: usize = 2; $body }
        if 3 < $n { let $i: usize = 3; $body }
        if 4 < $n { let $i: usize = 4; $body }
        if 5 < $n { let $i: usize = 5; $body }
        if 6 < $n { let $i: usize = 6; $body }
        if 7 < $n { let $i: usize = 7; $body }
    }};
}

pub mod fast_float;
pub mod fast_misc;
pub mod fast_ternary;
pub mod float;
pub mod misc;
pub mod quant;
pub mod ternary;

use core::arch::wasm32::*;

/// Integer dot-product strategy for ternary codes (0..=3) x int8 activations. An accumulator takes the
/// products of 16 byte lanes at a time; `finish` returns them as an i32x4 whose lane `g` is the sum of the
/// products of byte lanes `4g..4g+3` (the 4-byte groups of ggml's x86 integer lanes, see `ternary.rs`).
pub trait TernaryDot {
    /// Codes prepared once per weight vector (reused across tokens).
    type C: Copy;
    /// Accumulator.
    type A: Copy;
    fn codes(c: v128) -> Self::C;
    fn zero() -> Self::A;
    /// acc + the 16 products of activations `y` (i8) and codes `c` (each i16 lane gains at most 2 products).
    fn acc(acc: Self::A, y: v128, c: Self::C) -> Self::A;
    /// Group sums as i32x4 (lane g: byte lanes 4g..4g+3).
    fn finish(acc: Self::A) -> v128;
}

/// Plain SIMD128: i8 x i8 -> i16 extending multiplies, one i16 lane per byte lane (low and high halves).
pub struct Widen;

impl TernaryDot for Widen {
    type C = v128;
    type A = (v128, v128);
    #[inline(always)]
    fn codes(c: v128) -> v128 {
        c
    }
    #[inline(always)]
    fn zero() -> (v128, v128) {
        (i32x4_splat(0), i32x4_splat(0))
    }
    #[inline(always)]
    fn acc(acc: (v128, v128), y: v128, c: v128) -> (v128, v128) {
        (i16x8_add(acc.0, i16x8_extmul_low_i8x16(y, c)), i16x8_add(acc.1, i16x8_extmul_high_i8x16(y, c)))
    }
    #[inline(always)]
    fn finish(acc: (v128, v128)) -> v128 {
        // lo: byte pairs (0,1) (2,3) (4,5) (6,7); hi: (8,9) ... (14,15); group g = pairs 2g, 2g+1.
        let lo = i32x4_extadd_pairwise_i16x8(acc.0);
        let hi = i32x4_extadd_pairwise_i16x8(acc.1);
        i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(lo, hi), i32x4_shuffle::<1, 3, 5, 7>(lo, hi))
    }
}

/// Relaxed SIMD: `i16x8.relaxed_dot_i8x16_i7x16_s` summed in i16 lanes, widened by `finish` with
/// `i32x4.extadd_pairwise_i16x8_s` (one `vpmaddubsw` and one `vpaddw` per 16 products on x64, against five
/// instructions for `i32x4.relaxed_dot_i8x16_i7x16_add_s` where the CPU lacks AVX-VNNI, see `HDot`). Exact because
/// the second operand (the codes, 0..=3) is in [0, 127] and every kernel finishes after at most 8 steps (a TQ2_0 or
/// TQ1_0 half-block, an I2_S block), so an i16 lane holds at most 8 * 2 * 3 * 128 = 6144. i32 lane g gains the
/// products of byte lanes 4g..4g+3, which is `Widen::finish`'s grouping. Only inside functions whose name contains
/// `_rdot` (see `relaxed2`).
#[cfg(relaxed)]
pub struct Relaxed;

#[cfg(relaxed)]
impl TernaryDot for Relaxed {
    type C = v128;
    type A = v128;
    #[inline(always)]
    fn codes(c: v128) -> v128 {
        c
    }
    #[inline(always)]
    fn zero() -> v128 {
        i16x8_splat(0)
    }
    #[inline(always)]
    fn acc(acc: v128, y: v128, c: v128) -> v128 {
        i16x8_add(acc, relaxed2(y, c))
    }
    #[inline(always)]
    fn finish(acc: v128) -> v128 {
        i32x4_extadd_pairwise_i16x8(acc)
    }
}

/// The ternary strategy the exported SIMD kernels use in this build.
#[cfg(relaxed)]
pub type Fast = Relaxed;
#[cfg(not(relaxed))]
pub type Fast = Widen;

/// Placeholder of the three-operand relaxed instruction `f32x4.relaxed_madd(a, b, c)` (c the accumulator):
/// `v128.bitselect(c, a, b)`, the only SIMD128 instruction with the stack signature (v128, v128, v128) -> v128,
/// which LLVM 14 keeps as an opaque intrinsic. build.ts rewrites every one inside a function whose name contains
/// `_rmadd` (reordering the operands through locals) and checks that the SIMD128 build has no bitselect in such
/// functions. Only call it (through `madd`) from functions named that way.
#[cfg(relaxed)]
#[inline(always)]
fn relaxed3(a: v128, b: v128, c: v128) -> v128 {
    v128_bitselect(c, a, b)
}

/// `a * b + c` on 4 f32 lanes: `f32x4.relaxed_madd` in the relaxed build (one rounding where the CPU has FMA,
/// V8 emits vfmadd on x64), a multiply then an add in the SIMD128 build. Only for the `fast` numerics profile,
/// and only inside functions whose name contains `_rmadd`.
#[inline(always)]
pub fn madd(a: v128, b: v128, c: v128) -> v128 {
    #[cfg(relaxed)]
    {
        relaxed3(a, b, c)
    }
    #[cfg(not(relaxed))]
    {
        f32x4_add(f32x4_mul(a, b), c)
    }
}

/// Integer dot product for the fast ternary kernels: `finish` returns an i32x4 whose lane g holds the products of
/// byte lanes 4g..4g+3 of every `y` (i8) and `c` (0..=127) accumulated since `zero`. Exact, whatever the build,
/// within the bounds each implementation states (the kernels finish once per 256-block).
pub trait DotAdd {
    type A: Copy;
    /// Whether a GEMV block is taken in masked planes (`fast_ternary::block_masked`: codes times 1 and 4, two
    /// accumulators) rather than shifted down (`block_plain`: codes 0..=3, one accumulator).
    const MASKED: bool;
    fn zero() -> Self::A;
    fn acc(a: Self::A, y: v128, c: v128) -> Self::A;
    /// The i32x4 sums.
    fn finish(a: Self::A) -> v128;
    /// The block's i32x4 sums from the masked planes' accumulators (`a[1]` holds codes times 4).
    #[inline(always)]
    fn masked(a: [Self::A; 2]) -> v128 {
        i32x4_add(Self::finish(a[0]), i32x4_shr(Self::finish(a[1]), 2))
    }
}

/// Placeholder of the two-operand relaxed instruction `i16x8.relaxed_dot_i8x16_i7x16_s(a, b)`: `i8x16.swizzle(a,
/// b)`, a SIMD128 instruction with the same stack signature that LLVM 14 keeps as an opaque, non-commutative
/// intrinsic. build.ts rewrites every one inside a function whose name contains `_rdot` (`RELAXED` there) and checks
/// that the SIMD128 build has no swizzle in such functions.
#[cfg(relaxed)]
#[inline(always)]
fn relaxed2(a: v128, b: v128) -> v128 {
    i8x16_swizzle(a, b)
}

/// `i16x8.relaxed_dot_i8x16_i7x16_s` summed in i16 lanes (one `vpmaddubsw` and one `vpaddw` on x64: V8 lowers
/// `i32x4.relaxed_dot_i8x16_i7x16_add_s` without AVX-VNNI to pmaddubsw, a splat of ones built each time, pmaddwd and
/// paddd), widened once per block by `i32x4.extadd_pairwise_i16x8_s` (i32 lane g = i16 lanes 2g, 2g + 1 = byte
/// lanes 4g..4g+3). Bounds per i16 lane and block, for any codes 0..=3 (a corrupt file may hold code 3) and |y| <=
/// 128: a dot product adds at most 2 * c * 128, so the masked planes reach 8 * 2 * 3 * 128 = 6144 (x1) and 8 * 2 *
/// 12 * 128 = 24576 (x4), the plain planes 16 * 2 * 3 * 128 = 12288. `masked` shifts the x4 sums back in i16, exact
/// because their lanes are multiples of 4. Only inside functions whose name contains `_rdot` (see `relaxed2`).
#[cfg(relaxed)]
pub struct HDot;

#[cfg(relaxed)]
impl DotAdd for HDot {
    type A = v128;
    const MASKED: bool = true;
    #[inline(always)]
    fn zero() -> v128 {
        i16x8_splat(0)
    }
    #[inline(always)]
    fn acc(a: v128, y: v128, c: v128) -> v128 {
        i16x8_add(a, relaxed2(y, c))
    }
    #[inline(always)]
    fn finish(a: v128) -> v128 {
        i32x4_extadd_pairwise_i16x8(a)
    }
    #[inline(always)]
    fn masked(a: [v128; 2]) -> v128 {
        i32x4_extadd_pairwise_i16x8(i16x8_add(a[0], i16x8_shr(a[1], 2)))
    }
}

/// SIMD128: i16 extending multiplies (`Widen`), finished per block (each i16 lane takes at most 16 products of
/// |code * q| <= 381 before `finish`).
pub struct WDot;

impl DotAdd for WDot {
    type A = (v128, v128);
    const MASKED: bool = false;
    #[inline(always)]
    fn zero() -> (v128, v128) {
        Widen::zero()
    }
    #[inline(always)]
    fn acc(a: (v128, v128), y: v128, c: v128) -> (v128, v128) {
        Widen::acc(a, y, c)
    }
    #[inline(always)]
    fn finish(a: (v128, v128)) -> v128 {
        Widen::finish(a)
    }
}

/// The DotAdd strategy of this build.
#[cfg(relaxed)]
pub type FastDot = HDot;
#[cfg(not(relaxed))]
pub type FastDot = WDot;

/// Sum of the four i32 lanes.
#[inline(always)]
pub fn hsum_i32(a: v128) -> i32 {
    let b = i32x4_add(a, i32x4_shuffle::<2, 3, 0, 1>(a, a));
    let c = i32x4_add(b, i32x4_shuffle::<1, 0, 3, 2>(b, b));
    i32x4_extract_lane::<0>(c)
}

/// `f32x4.demote_f64x2_zero`. LLVM 14 (rustc 1.63) lowers `core::arch::wasm32::f32x4_demote_f64x2_zero` to
/// scalar code (two extract_lane, two f32.demote_f64, a splat and a replace_lane); this emits the placeholder
/// `f64x2.ceil` (same operand and result types, opcode 0xfd 0x74, used nowhere else) that build.ts rewrites
/// into `f32x4.demote_f64x2_zero` (0xfd 0x5e, same length) in both modules. Result: the two f64 lanes rounded
/// to f32 (round to nearest even) in lanes 0 and 1, zeros in lanes 2 and 3.
#[inline(always)]
pub fn demote(v: v128) -> v128 {
    f64x2_ceil(v)
}

/// Emulated f32 FMAs (`ggml::fma32`: the exact product and the sum in f64, then rounded to f32) on f64x2
/// lanes that hold f32 values.
#[derive(Clone, Copy)]
pub struct F64Fma;

impl F64Fma {
    #[inline(always)]
    pub fn new() -> F64Fma {
        F64Fma
    }

    /// Rounds both f64 lanes to f32 precision (they stay f64).
    #[inline(always)]
    pub fn round(self, v: v128) -> v128 {
        f64x2_promote_low_f32x4(demote(v))
    }

    /// `round_f32(a * b + c)` on two f64 lanes.
    #[inline(always)]
    pub fn fma(self, a: v128, b: v128, c: v128) -> v128 {
        self.round(f64x2_add(f64x2_mul(a, b), c))
    }

    /// f32 `fma(a, b, c)` on 4 f32 lanes (two f64x2 halves).
    #[inline(always)]
    pub fn fma4(self, a: v128, b: v128, c: v128) -> v128 {
        let lo = f64x2_promote_low_f32x4;
        let hi = |v: v128| f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 2, 3>(v, v));
        let r0 = demote(f64x2_add(f64x2_mul(lo(a), lo(b)), lo(c)));
        let r1 = demote(f64x2_add(f64x2_mul(hi(a), hi(b)), hi(c)));
        i32x4_shuffle::<0, 1, 4, 5>(r0, r1)
    }
}

/// The lanes of an f32x4.
#[inline(always)]
pub fn f32x4_lanes(v: v128) -> [f32; 4] {
    [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)]
}

/// 1 if this module was built with relaxed SIMD, else 0.
pub fn flavor() -> u32 {
    if cfg!(relaxed) {
        1
    } else {
        0
    }
}
