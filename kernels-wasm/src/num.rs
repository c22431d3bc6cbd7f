//! Scalar number conversions and elementary functions shared by the scalar twins and the SIMD kernels'
//! tails: f16/bf16 <-> f32 (bit-exact with ggml's x86 CPU path), ggml's `nearest_int`, and `expf`
//! (a port of musl's expf, which is ARM optimized-routines' `expf.c` + `exp2f_data.c`, MIT-licensed).

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

// musl src/math/exp2f_data.c: tab[i] = uint(2^(i/32)) - (i << 47).
const EXP2F_TAB: [u64; 32] = [
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
];
// Constants as bit patterns (hex floats of musl's exp2f_data.c), so no decimal rounding can creep in.
/// 0x1.71547652b82fep+0 * 32 (N / ln 2).
#[inline(always)]
fn inv_ln2_n() -> f64 {
    f64::from_bits(0x4047_1547_652b_82fe)
}
/// 0x1.8p+52: adding it rounds to an integer, ties to even.
#[inline(always)]
fn shift() -> f64 {
    f64::from_bits(0x4338_0000_0000_0000)
}
/// poly_scaled: 0x1.c6af84b912394p-5/N^3, 0x1.ebfce50fac4f3p-3/N^2, 0x1.62e42ff0c52d6p-1/N.
#[inline(always)]
fn poly() -> [f64; 3] {
    [
        f64::from_bits(0x3ebc_6af8_4b91_2394),
        f64::from_bits(0x3f2e_bfce_50fa_c4f3),
        f64::from_bits(0x3f96_2e42_ff0c_52d6),
    ]
}

/// e^x in f32 (musl `expf`: max error 0.502 ULP; overflow -> inf, underflow -> 0, NaN -> NaN).
pub fn expf(x: f32) -> f32 {
    let abstop = (x.to_bits() >> 20) & 0x7ff;
    if abstop >= (88.0f32.to_bits() >> 20) {
        // |x| >= 88 or x is NaN.
        if x.to_bits() == f32::NEG_INFINITY.to_bits() {
            return 0.0;
        }
        if abstop >= (f32::INFINITY.to_bits() >> 20) {
            return x + x;
        }
        if x > f32::from_bits(0x42b1_7217) {
            // x > 0x1.62e42ep6 = log(0x1p128): __math_oflowf
            return f32::INFINITY;
        }
        if x < f32::from_bits(0xc2cf_f1b4) {
            // x < -0x1.9fe368p6 = log(0x1p-150): __math_uflowf
            return 0.0;
        }
    }
    expf_core(x)
}

/// The table/polynomial part of `expf`, valid for -103.97 <= x <= 88.72 (no special cases).
#[inline(always)]
pub fn expf_core(x: f32) -> f32 {
    let xd = x as f64;
    // x*N/ln2 = k + r with r in [-1/2, 1/2] and k an integer (ties to even through SHIFT).
    let z = inv_ln2_n() * xd;
    let kd0 = z + shift();
    let ki = kd0.to_bits();
    let kd = kd0 - shift();
    let r = z - kd;
    // exp(x) = 2^(k/N) * 2^(r/N) ~= s * (C0*r^3 + C1*r^2 + C2*r + 1)
    let t = EXP2F_TAB[(ki % 32) as usize].wrapping_add(ki << 47);
    let s = f64::from_bits(t);
    let [c0, c1, c2] = poly();
    let zz = c0 * r + c1;
    let r2 = r * r;
    let y = c2 * r + 1.0;
    let y = zz * r2 + y;
    (y * s) as f32
}

/// Table entry used by the SIMD `expf` (same table as `expf_core`).
#[inline(always)]
pub fn exp2f_tab(i: usize) -> u64 {
    EXP2F_TAB[i & 31]
}

/// Constants of `expf_core` for the SIMD version: (N/ln2, shift, poly).
#[inline(always)]
pub fn expf_consts() -> (f64, f64, [f64; 3]) {
    (inv_ln2_n(), shift(), poly())
}

/// SiLU as ggml's scalar `ggml_silu_f32`: `x / (1 + expf(-x))`.
#[inline(always)]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + expf(-x))
}
