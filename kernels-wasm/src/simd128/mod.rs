//! SIMD128 kernels (and, in the relaxed build, relaxed-SIMD ones). Every function here produces exactly the
//! bytes of its twin in `scalar.rs`: integer sums are exact whatever their lane layout, and every float
//! operation is the scalar twin's operation on the same operands in the same order.
//!
//! Shape letters as in `scalar.rs`. All memory goes through `view::Mem` (bounds-checked); the
//! intrinsics themselves are safe functions on wasm.

pub mod float;
pub mod misc;
pub mod quant;
pub mod ternary;

use core::arch::wasm32::*;

/// Integer dot-product strategy for ternary codes (0..=3) x int8 activations, accumulating into i16x8
/// lanes. Lane layout differs between strategies; lane totals summed over a block are identical.
pub trait TernaryDot {
    /// Codes prepared once per weight vector (reused across tokens).
    type C: Copy;
    /// Activations prepared once per activation vector (reused across rows).
    type Y: Copy;
    fn codes(c: v128) -> Self::C;
    fn acts(y: v128) -> Self::Y;
    /// acc (i16x8) + products of the 16 activations and 16 codes (each lane gains at most 2 products).
    fn acc(acc: v128, y: Self::Y, c: Self::C) -> v128;
}

/// Plain SIMD128: widen to i16 and multiply (`i16x8.mul`).
pub struct Widen;

impl TernaryDot for Widen {
    type C = (v128, v128);
    type Y = (v128, v128);
    #[inline(always)]
    fn codes(c: v128) -> (v128, v128) {
        (u16x8_extend_low_u8x16(c), u16x8_extend_high_u8x16(c))
    }
    #[inline(always)]
    fn acts(y: v128) -> (v128, v128) {
        (i16x8_extend_low_i8x16(y), i16x8_extend_high_i8x16(y))
    }
    #[inline(always)]
    fn acc(acc: v128, y: (v128, v128), c: (v128, v128)) -> v128 {
        i16x8_add(acc, i16x8_add(i16x8_mul(y.0, c.0), i16x8_mul(y.1, c.1)))
    }
}

/// Relaxed SIMD: `i16x8.relaxed_dot_i8x16_i7x16_s` (pmaddubsw on x64), exact because the second operand
/// (the codes) is in [0, 127].
#[cfg(relaxed)]
pub struct Relaxed;

#[cfg(relaxed)]
impl TernaryDot for Relaxed {
    type C = v128;
    type Y = v128;
    #[inline(always)]
    fn codes(c: v128) -> v128 {
        c
    }
    #[inline(always)]
    fn acts(y: v128) -> v128 {
        y
    }
    #[inline(always)]
    fn acc(acc: v128, y: v128, c: v128) -> v128 {
        i16x8_add(acc, relaxed_dot_i8x16_i7x16(y, c))
    }
}

/// Rust 1.63 has no relaxed-SIMD intrinsics. This emits `i16x8.q15mulr_sat_s` (same operand and result
/// types) as a placeholder; build.ts rewrites every such instruction of the relaxed build into
/// `i16x8.relaxed_dot_i8x16_i7x16_s` (opcode 0xfd 0x112, same encoded length) and checks that the SIMD128
/// build contains none. Operand order matters: `a` = int8 activations, `b` = codes in [0, 127].
#[cfg(relaxed)]
#[inline(always)]
fn relaxed_dot_i8x16_i7x16(a: v128, b: v128) -> v128 {
    i16x8_q15mulr_sat(a, b)
}

/// The ternary strategy the exported SIMD kernels use in this build.
#[cfg(relaxed)]
pub type Fast = Relaxed;
#[cfg(not(relaxed))]
pub type Fast = Widen;

/// Transposed horizontal sums: [sum(a), sum(b), sum(c), sum(d)] of four i32x4.
#[inline(always)]
pub fn hsum4_i32(a: v128, b: v128, c: v128, d: v128) -> v128 {
    let ab = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(a, b), i32x4_shuffle::<2, 6, 3, 7>(a, b));
    let cd = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(c, d), i32x4_shuffle::<2, 6, 3, 7>(c, d));
    i32x4_add(i32x4_shuffle::<0, 1, 4, 5>(ab, cd), i32x4_shuffle::<2, 3, 6, 7>(ab, cd))
}

/// Sum of the four i32 lanes.
#[inline(always)]
pub fn hsum_i32(a: v128) -> i32 {
    let b = i32x4_add(a, i32x4_shuffle::<2, 3, 0, 1>(a, a));
    let c = i32x4_add(b, i32x4_shuffle::<1, 0, 3, 2>(b, b));
    i32x4_extract_lane::<0>(c)
}

/// f32x4 from four scalars.
#[inline(always)]
pub fn f32x4_from(v: [f32; 4]) -> v128 {
    f32x4(v[0], v[1], v[2], v[3])
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
