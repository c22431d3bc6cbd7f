//! Block geometry of the formats the kernels read, from ggml-common.h (llama.cpp v0.5.0) and bitnet.cpp's
//! I2_S (docs/formats.md section 2). Each size is checked at compile time against its struct.

/// Elements per K-quant super-block (`QK_K`, ggml-common.h:89).
pub const QK_K: usize = 256;
/// Elements per Q8_0 block (`QK8_0`, ggml-common.h).
pub const QK8_0: usize = 32;
/// Elements per I2_S block (bitnet.cpp x86 layout: 128 elements in 32 bytes).
pub const QK_I2_S: usize = 128;

/// `block_tq2_0 { u8 qs[64]; f16 d; }` (ggml-common.h:283-288).
pub const TQ2_0_BYTES: usize = 66;
/// `block_tq1_0 { u8 qs[48]; u8 qh[4]; f16 d; }` (ggml-common.h:274-280).
pub const TQ1_0_BYTES: usize = 54;
/// `block_q8_K { f32 d; i8 qs[256]; i16 bsums[16]; }` (ggml-common.h:371-376).
pub const Q8_K_BYTES: usize = 292;
/// `block_q8_0 { f16 d; i8 qs[32]; }`.
pub const Q8_0_BYTES: usize = 34;
/// `block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d; }`.
pub const Q6_K_BYTES: usize = 210;
/// Bytes of one I2_S block (4 codes per byte).
pub const I2_S_BLOCK_BYTES: usize = 32;
/// Bytes after the packed I2_S codes: the f32 per-tensor scale, then padding.
pub const I2_S_TAIL_BYTES: usize = 32;
/// Bytes after the K int8 values of one I8_S activation row: f32 act_scale, i32 sum, 8 bytes padding.
pub const I8_S_ROW_EXTRA: usize = 16;

/// Byte offsets inside a Q8_K block.
pub const Q8_K_QS: usize = 4;
pub const Q8_K_BSUMS: usize = 4 + QK_K;
/// Byte offset of `d` inside a TQ2_0 block.
pub const TQ2_0_D: usize = QK_K / 4;
/// Byte offsets inside a TQ1_0 block.
pub const TQ1_0_QH: usize = 48;
pub const TQ1_0_D: usize = 52;
/// Byte offsets inside a Q6_K block.
pub const Q6_K_QH: usize = QK_K / 2;
pub const Q6_K_SCALES: usize = QK_K / 2 + QK_K / 4;
pub const Q6_K_D: usize = QK_K / 2 + QK_K / 4 + QK_K / 16;

const _: () = assert!(TQ2_0_BYTES == QK_K / 4 + 2);
const _: () = assert!(TQ1_0_BYTES == (QK_K - 4 * QK_K / 64) / 5 + QK_K / 64 + 2);
const _: () = assert!(TQ1_0_QH == (QK_K - 4 * QK_K / 64) / 5 && TQ1_0_D == TQ1_0_QH + QK_K / 64);
const _: () = assert!(Q8_K_BYTES == 4 + QK_K + 2 * (QK_K / 16));
const _: () = assert!(Q8_0_BYTES == 2 + QK8_0);
const _: () = assert!(Q6_K_BYTES == Q6_K_D + 2);
const _: () = assert!(I2_S_BLOCK_BYTES * 4 == QK_I2_S);
// Q8_K blocks are 4-byte multiples so that `d` of every block of a row stays f32-aligned.
const _: () = assert!(Q8_K_BYTES % 4 == 0);
