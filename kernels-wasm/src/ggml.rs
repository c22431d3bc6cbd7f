//! llama.cpp's x86 AVX-512 CPU float order, scalar: the building blocks of the scalar twins, written as
//! `engine/backends/ggml_order.ts` writes them (the reference backend, bit-identical to llama.cpp v0.5.0 on
//! this project's machines). Sources, relative to `ggml/src/ggml-cpu/`: `vec.cpp` `ggml_vec_dot_f32`
//! (4 x 16-lane FMA accumulators), `simd-mappings.h` `GGML_F32x16_REDUCE`, GCC's `_mm512_reduce_add_ps`
//! tree, `vec.h` `ggml_v_expf` / `ggml_v_silu` (AVX-512), `llamafile/sgemm.cpp` tinyBLAS (one 16-lane
//! accumulator), `arch/x86/quants.c` `hsum_float_8`.
//!
//! WebAssembly has no deterministic fused multiply-add, so an f32 FMA is computed as ggml_order.ts does:
//! the exact product and the sum in f64, then rounded to f32 (it can differ from a real FMA by double
//! rounding in ~2^-29 of cases; the reference backend makes the same choice, so wasm == ref bit for bit).

/// f32 `a * b + c` with one rounding of the f64 result (see the module note).
#[inline(always)]
pub fn fma32(a: f32, b: f32, c: f32) -> f32 {
    (a as f64 * b as f64 + c as f64) as f32
}

/// GCC's `_mm512_reduce_add_ps`: halves 8+8, then 4+4, then (0+2, 1+3), then lane 0 + lane 1.
#[inline(always)]
pub fn reduce16(v: &[f32; 16]) -> f32 {
    let mut t3 = [0.0f32; 8];
    for i in 0..8 {
        t3[i] = v[8 + i] + v[i];
    }
    let t6 = [t3[4] + t3[0], t3[5] + t3[1], t3[6] + t3[2], t3[7] + t3[3]];
    (t6[0] + t6[2]) + (t6[1] + t6[3])
}

/// AVX2 `hsum_float_8` (arch/x86/quants.c): ((x4+x0)+(x6+x2)) + ((x5+x1)+(x7+x3)).
#[inline(always)]
pub fn hsum8(x: &[f32; 8]) -> f32 {
    ((x[4] + x[0]) + (x[6] + x[2])) + ((x[5] + x[1]) + (x[7] + x[3]))
}

/// The 64 lanes of `ggml_vec_dot_f32` reduced as GGML_F32x16_REDUCE: (0+2, 1+3), 0+1, then 16 lanes.
#[inline(always)]
pub fn reduce64(acc: &[f32; 64]) -> f32 {
    let mut r = [0.0f32; 16];
    for l in 0..16 {
        r[l] = (acc[l] + acc[32 + l]) + (acc[16 + l] + acc[48 + l]);
    }
    reduce16(&r)
}

/// `ggml_vec_dot_f32` on AVX-512 of `n` products `x(i) * y(i)`: `floor(n/64)` steps of four 16-lane FMA
/// accumulators (lane `i % 64`), reduced by [`reduce64`], then the tail added one rounded product at a time.
#[inline(always)]
pub fn vec_dot_f32(n: usize, mut x: impl FnMut(usize) -> f32, mut y: impl FnMut(usize) -> f32) -> f32 {
    let np = n & !63;
    let mut acc = [0.0f32; 64];
    let mut i = 0;
    while i < np {
        for l in 0..64 {
            acc[l] = fma32(x(i + l), y(i + l), acc[l]);
        }
        i += 64;
    }
    let mut sum = reduce64(&acc);
    for i in np..n {
        sum += x(i) * y(i);
    }
    sum
}

/// `ggml_vec_dot_f32` over a K that ggml pads with zeros to a multiple of 64 (the KV length): only the
/// 64-lane part runs, elements past `n` count as zeros.
#[inline(always)]
pub fn vec_dot_f32_padded(n: usize, mut x: impl FnMut(usize) -> f32, mut y: impl FnMut(usize) -> f32) -> f32 {
    let mut acc = [0.0f32; 64];
    for i in 0..n {
        acc[i & 63] = fma32(x(i), y(i), acc[i & 63]);
    }
    reduce64(&acc)
}

/// tinyBLAS (llamafile sgemm, AVX-512, KN = 16) for one output: lane `l` chains FMAs over
/// `i = l, l+16, ...`, then [`reduce16`]. Elements past `n` count as zeros.
#[inline(always)]
pub fn tinyblas_dot(n: usize, mut x: impl FnMut(usize) -> f32, mut y: impl FnMut(usize) -> f32) -> f32 {
    let mut acc = [0.0f32; 16];
    for i in 0..n {
        acc[i & 15] = fma32(x(i), y(i), acc[i & 15]);
    }
    reduce16(&acc)
}

/// Whether ggml computes an f32/f16 matmul of this shape with tinyBLAS (`llamafile_sgemm`: at least two
/// columns, K % 16 == 0, rows % 4 == 0 on AVX-512) rather than with `ggml_vec_dot_*`.
#[inline(always)]
pub fn uses_tinyblas(n_out: usize, k: usize, n_tok: usize) -> bool {
    n_tok >= 2 && k % 16 == 0 && n_out % 4 == 0
}

/// Whether ggml computes a BF16 matmul of this shape with tinyBLAS (`llamafile_sgemm` on AVX512-BF16: at least
/// two columns, K % 32 == 0, rows % 4 == 0).
#[inline(always)]
pub fn bf16_uses_tinyblas(n_out: usize, k: usize, n_tok: usize) -> bool {
    n_tok >= 2 && k % 32 == 0 && n_out % 4 == 0
}

// ggml_v_expf (vec.h, AVX-512): Arm optimized-routines' expf polynomial in f32 with FMAs. Constants are
// the f32 bit patterns of vec.h's hex floats.
pub const EXP_R: u32 = 0x4b40_0000; // 0x1.8p23
pub const EXP_LOG2E: u32 = 0x3fb8_aa3b; // 0x1.715476p+0
pub const EXP_LN2_HI: u32 = 0x3f31_7200; // 0x1.62e4p-1
pub const EXP_LN2_LO: u32 = 0x35bf_be8e; // 0x1.7f7d1cp-20
pub const EXP_C5: u32 = 0x3c07_2010; // 0x1.0e4020p-7
pub const EXP_C4: u32 = 0x3d2b_9f17; // 0x1.573e2ep-5
pub const EXP_C3: u32 = 0x3e2a_af33; // 0x1.555e66p-3
pub const EXP_C2: u32 = 0x3eff_fedb; // 0x1.fffdb6p-2
pub const EXP_C1: u32 = 0x3f7f_fff6; // 0x1.ffffecp-1

#[inline(always)]
fn c(bits: u32) -> f32 {
    f32::from_bits(bits)
}

/// One lane of ggml's AVX-512 `ggml_v_expf`: 0 below about -104, inf above about 88.4, NaN for NaN.
#[inline(always)]
pub fn v_expf(x: f32) -> f32 {
    let r = c(EXP_R);
    let z = fma32(x, c(EXP_LOG2E), r);
    let n = z - r;
    let b = fma32(-n, c(EXP_LN2_LO), fma32(-n, c(EXP_LN2_HI), x));
    let an = f32::from_bits(n.to_bits() & 0x7fff_ffff);
    if an > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    if n != n {
        return f32::NAN;
    }
    let u = b * b;
    let j = fma32(
        fma32(fma32(c(EXP_C5), b, c(EXP_C4)), u, fma32(c(EXP_C3), b, c(EXP_C2))),
        u,
        fma32(c(EXP_C1), b, 1.0),
    );
    // _mm512_scalef_ps(j, n): j * 2^n rounded once; n is an integer in [-192, 192] here.
    (j as f64 * f64::from_bits(((n as i64 + 1023) as u64) << 52)) as f32
}

/// One lane of ggml's AVX-512 `ggml_v_silu`: `x / (1 + v_expf(0 - x))`.
#[inline(always)]
pub fn v_silu(x: f32) -> f32 {
    x / (1.0 + v_expf(0.0 - x))
}
