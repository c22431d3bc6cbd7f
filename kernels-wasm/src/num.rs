//! Scalar number conversions shared by the scalar twins and the SIMD kernels' tails: f16/bf16 <-> f32
//! (bit-exact with ggml's x86 CPU path) and ggml's `nearest_int`.

/// 2^112 as f32: scales an f16 bit pattern shifted into f32 position (`(h & 0x7fff) << 13`, which is the
/// value times 2^-112, exact for normal and subnormal f16) back to its value.
#[inline(always)]
pub fn f16_scale() -> f32 {
    f32::from_bits(0x7780_0000) // 0x1p112
}

/// f16 bits -> f32, exact for every input (as F16C `vcvtph2ps`, which ggml's x86 build uses).
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h as u32) & 0x8000) << 16;
    let em = (h as u32) & 0x7fff;
    if em >= 0x7c00 {
        // Inf or NaN: all-ones exponent, mantissa kept (NaN stays NaN, payload shifted like F16C).
        return f32::from_bits(sign | 0x7f80_0000 | ((em & 0x03ff) << 13));
    }
    // Normal and subnormal: the shifted pattern is the value times 2^-112; the product is exact.
    let mag = f32::from_bits(em << 13) * f16_scale();
    f32::from_bits(sign | mag.to_bits())
}

/// f32 -> f16 bits, round to nearest even, overflow to infinity, NaN -> quiet NaN `0x7e00` with the sign
/// (F16C `vcvtps2ph` with rounding mode 0, as ggml's `GGML_CPU_FP32_TO_FP16` on x86). Algorithm:
/// F. Giesen's `float_to_half_fast3_rtne` (public domain).
#[inline(always)]
pub fn f32_to_f16(f: f32) -> u16 {
    let x = f.to_bits();
    let sign = x & 0x8000_0000;
    let u = x ^ sign;
    let o: u32 = if u >= 0x4780_0000 {
        // |f| >= 65536 (always rounds to inf), inf or NaN.
        if u > 0x7f80_0000 {
            0x7e00
        } else {
            0x7c00
        }
    } else if u < 0x3880_0000 {
        // Result is subnormal or zero: let the FPU round by adding 0.5 (denorm magic = 126 << 23).
        const DENORM_MAGIC: u32 = 126 << 23;
        let v = f32::from_bits(u) + f32::from_bits(DENORM_MAGIC);
        v.to_bits() - DENORM_MAGIC
    } else {
        let mant_odd = (u >> 13) & 1;
        // Rebias the exponent (15 - 127) and round to nearest even.
        let v = u.wrapping_add(((15u32.wrapping_sub(127)) << 23).wrapping_add(0xfff)) + mant_odd;
        v >> 13
    };
    (o | (sign >> 16)) as u16
}

/// bf16 bits -> f32 (exact).
#[inline(always)]
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// f32 -> bf16 bits, round to nearest even, NaN forced quiet (ggml-impl.h `ggml_compute_fp32_to_bf16`).
#[inline(always)]
pub fn f32_to_bf16(f: f32) -> u16 {
    let u = f.to_bits();
    if (u & 0x7fff_ffff) > 0x7f80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    (u.wrapping_add(0x7fff + ((u >> 16) & 1)) >> 16) as u16
}

/// ggml's `nearest_int` (ggml-quants.c:621-626): round half to even for |v| <= 4194303.
#[inline(always)]
pub fn nearest_int(v: f32) -> i32 {
    let b = (v + 12582912.0f32).to_bits();
    (b & 0x007f_ffff) as i32 - 0x0040_0000
}
