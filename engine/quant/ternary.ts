/**
 * Fast packing of ternary weights into TQ2_0, TQ1_0 and I2_S, and the inverse.
 *
 * Input is one code per weight, `code = value + 1` in {0, 1, 2} (value -1, 0, +1), row-major with `ne0` fastest,
 * plus the scale(s). The bytes written are exactly what the reference quantizers write for the weights
 * `(code - 1) * scale` (see the `*_test.ts` proofs):
 *
 * - TQ2_0 (ggml-common.h:283-288, `quantize_row_tq2_0_ref` ggml-quants.c:2382-2412): 256-weight blocks (`blockBytes(GgmlType.TQ2_0)` bytes),
 *   `qs[64]` then f16 `d`. Byte `32*h + m` holds element `128*h + 32*n + m` in bits `2n..2n+1`.
 * - TQ1_0 (ggml-common.h:274-280, `quantize_row_tq1_0_ref` ggml-quants.c:2316-2380): blocks of `blockBytes(GgmlType.TQ1_0)` bytes, `qs[48]`, `qh[4]`,
 *   f16 `d`; five trits per byte, first element most significant, stored as `ceil(q * 256 / 243)`.
 * - I2_S (bitnet.cpp `quantize_i2_s`, docs/formats.md section 2): 128-weight blocks of 32 bytes;
 *   byte `g` of a block holds elements `g, 32+g, 64+g, 96+g` in bits 7:6, 5:4, 3:2, 1:0. After the `n/4` packed
 *   bytes comes a 32-byte tail whose first 4 bytes are the f32 per-tensor scale (the rest is written as zeros).
 *
 * The block scale `d` of TQ1_0/TQ2_0 is `fp16(scale)`, except that a block whose codes are all 1 (all weights
 * zero) gets `d = 0`, as the reference quantizer computes `d = max|x| = 0` for it; likewise an I2_S tensor of
 * zeros gets scale 0. With these rules, and a scale >= 0, packing equals quantizing `(code - 1) * scale`.
 *
 * Fast paths read the codes four at a time through a Uint32Array (lanes never carry: each packed lane stays
 * below 256), so they need `codes.byteOffset % 4 == 0` (and an even `dst.byteOffset` for TQ2_0, a multiple of 4
 * for I2_S); otherwise the scalar twins (`*Ref`) run. Typed-array
 * views assume a little-endian host, as GGUF does.
 *
 * @module
 */

import { blockBytes, GgmlType, type GgmlTypeId, ggmlTypeName } from "./ggml_type.ts";
import { f16BitsToF32Bits, f32ToF16 } from "./fp16.ts";
import { checkLength, checkWholeBlocks, QK_K } from "./_private.ts";

const TQ2_0_BYTES = blockBytes(GgmlType.TQ2_0);
const TQ1_0_BYTES = blockBytes(GgmlType.TQ1_0);
const QK_I2_S = 128;
/** Bytes after the packed I2_S codes: the f32 scale and padding (bitnet.cpp "32B for alignment"). */
export const I2S_TAIL_BYTES = 32;

// ceil(q * 256 / 243) for q in 0..242 (ggml-quants.c:2337-2338: `(q * 256 + (243 - 1)) / 243`).
const TQ1_CEIL: Uint8Array = (() => {
  const t = new Uint8Array(243);
  for (let q = 0; q < 243; q++) t[q] = Math.floor((q * 256 + 242) / 243);
  return t;
})();

// A byte of codes is valid iff it is 0, 1 or 2: no bit above bit 1, and not both low bits (3).
function invalidLanes(w: number): number {
  return w & (((w >>> 1) & 0x01010101) | 0xfcfcfcfc);
}

function badCode(fn: string, codes: Uint8Array, from: number, to: number): never {
  for (let i = from; i < to; i++) {
    if (codes[i] > 2) {
      throw new RangeError(
        `${fn}() cannot pack code ${codes[i]} at index ${i}: codes must be value + 1 in {0, 1, 2}. ` +
          `Map -1/0/+1 weights to 0/1/2.`,
      );
    }
  }
  throw new RangeError(`${fn}() found an invalid code in [${from}, ${to}). Codes must be 0, 1 or 2.`);
}

function checkPack(fn: string, codes: Uint8Array, nScales: number, dstLen: number, blockBytes: number): number {
  checkWholeBlocks(fn, "codes", codes.length, QK_K);
  const nb = codes.length / QK_K;
  checkLength(fn, "scales (one per 256 codes)", nScales, nb);
  checkLength(fn, "destination bytes", dstLen, nb * blockBytes);
  return nb;
}

function u32Codes(codes: Uint8Array): Uint32Array | undefined {
  return codes.byteOffset % 4 === 0 ? new Uint32Array(codes.buffer, codes.byteOffset, codes.length >>> 2) : undefined;
}

function writeF16(dst: Uint8Array, at: number, h: number): void {
  dst[at] = h & 0xff;
  dst[at + 1] = h >>> 8;
}

/**
 * Pack ternary codes into TQ2_0 blocks.
 *
 * @param codes One code per weight, `value + 1` in {0, 1, 2}; length a multiple of 256.
 * @param scales One scale per 256-weight block (stored as f16).
 * @param dst Destination, at least `codes.length / 256 * blockBytes(GgmlType.TQ2_0)` bytes.
 * @throws {RangeError} When lengths do not match or a code is not 0, 1 or 2.
 * @example
 * ```ts
 * import { packTq2_0 } from "./ternary.ts";
 * import { blockBytes, GgmlType } from "./ggml_type.ts";
 * const codes = new Uint8Array(256).fill(2); // all +1
 * const dst = new Uint8Array(blockBytes(GgmlType.TQ2_0));
 * packTq2_0(codes, new Float32Array([0.5]), dst);
 * console.log(dst[0].toString(16), dst[65].toString(16), dst[64].toString(16)); // "aa" "38" "0"
 * ```
 */
export function packTq2_0(codes: Uint8Array, scales: Float32Array, dst: Uint8Array): void {
  const nb = checkPack("packTq2_0", codes, scales.length, dst.length, TQ2_0_BYTES);
  const w = u32Codes(codes);
  if (!w || dst.byteOffset % 2 !== 0) return packTq2_0Ref(codes, scales, dst);
  // TQ2_0 blocks have an even size, so every qs pair and d stay 2-byte aligned: store 16 bits at a time.
  const d16 = new Uint16Array(dst.buffer, dst.byteOffset, nb * (TQ2_0_BYTES / 2));
  for (let b = 0; b < nb; b++) {
    const cw = b * 64; // word index of the block's first code
    const o16 = b * (TQ2_0_BYTES / 2);
    let bad = 0;
    let nz = 0;
    for (let h = 0; h < 2; h++) {
      const hw = cw + h * 32;
      for (let k = 0; k < 8; k++) {
        // Four packed bytes 32h+4k..32h+4k+3 from the codes at 128h + 32n + 4k, n = 0..3.
        const c0 = w[hw + k], c1 = w[hw + 8 + k], c2 = w[hw + 16 + k], c3 = w[hw + 24 + k];
        bad |= invalidLanes(c0) | invalidLanes(c1) | invalidLanes(c2) | invalidLanes(c3);
        const p = c0 | (c1 << 2) | (c2 << 4) | (c3 << 6);
        nz |= p ^ 0x55555555; // 0x55 = four codes of 1
        const at = o16 + h * 16 + k * 2;
        d16[at] = p;
        d16[at + 1] = p >>> 16;
      }
    }
    if (bad !== 0) badCode("packTq2_0", codes, b * QK_K, (b + 1) * QK_K);
    d16[o16 + 32] = nz === 0 ? 0 : f32ToF16(scales[b]);
  }
}

/**
 * Scalar twin of {@link packTq2_0}: one code at a time, any alignment.
 *
 * @param codes One code per weight in {0, 1, 2}; length a multiple of 256.
 * @param scales One scale per block.
 * @param dst Destination, at least `codes.length / 256 * blockBytes(GgmlType.TQ2_0)` bytes.
 * @throws {RangeError} When lengths do not match or a code is not 0, 1 or 2.
 * @example
 * ```ts
 * import { packTq2_0, packTq2_0Ref } from "./ternary.ts";
 * import { blockBytes, GgmlType } from "./ggml_type.ts";
 * const codes = new Uint8Array(256).map((_, i) => i % 3);
 * const a = new Uint8Array(blockBytes(GgmlType.TQ2_0)), b = new Uint8Array(blockBytes(GgmlType.TQ2_0));
 * packTq2_0(codes, new Float32Array([1]), a);
 * packTq2_0Ref(codes, new Float32Array([1]), b);
 * console.log(a.every((v, i) => v === b[i])); // true
 * ```
 */
export function packTq2_0Ref(codes: Uint8Array, scales: Float32Array, dst: Uint8Array): void {
  const nb = checkPack("packTq2_0Ref", codes, scales.length, dst.length, TQ2_0_BYTES);
  for (let b = 0; b < nb; b++) {
    const c = b * QK_K;
    const o = b * TQ2_0_BYTES;
    let nz = false;
    for (let e = 0; e < QK_K; e++) {
      const v = codes[c + e];
      if (v > 2) badCode("packTq2_0Ref", codes, c + e, c + e + 1);
      if (v !== 1) nz = true;
    }
    for (let h = 0; h < 2; h++) {
      for (let m = 0; m < 32; m++) {
        const e = c + h * 128 + m;
        dst[o + h * 32 + m] = codes[e] | (codes[e + 32] << 2) | (codes[e + 64] << 4) | (codes[e + 96] << 6);
      }
    }
    writeF16(dst, o + 64, nz ? f32ToF16(scales[b]) : 0);
  }
}

/**
 * Pack ternary codes into TQ1_0 blocks.
 *
 * @param codes One code per weight, `value + 1` in {0, 1, 2}; length a multiple of 256.
 * @param scales One scale per 256-weight block (stored as f16).
 * @param dst Destination, at least `codes.length / 256 * blockBytes(GgmlType.TQ1_0)` bytes.
 * @throws {RangeError} When lengths do not match or a code is not 0, 1 or 2.
 * @example
 * ```ts
 * import { packTq1_0 } from "./ternary.ts";
 * import { blockBytes, GgmlType } from "./ggml_type.ts";
 * const dst = new Uint8Array(blockBytes(GgmlType.TQ1_0));
 * packTq1_0(new Uint8Array(256).fill(1), new Float32Array([1]), dst); // all zero weights
 * console.log(dst[0], dst[52], dst[53]); // 128 0 0  (q = 121 -> ceil(121*256/243) = 128; d = 0)
 * ```
 */
export function packTq1_0(codes: Uint8Array, scales: Float32Array, dst: Uint8Array): void {
  const nb = checkPack("packTq1_0", codes, scales.length, dst.length, TQ1_0_BYTES);
  const w = u32Codes(codes);
  if (!w) return packTq1_0Ref(codes, scales, dst);
  const ceil = TQ1_CEIL;
  for (let b = 0; b < nb; b++) {
    const cw = b * 64;
    const o = b * TQ1_0_BYTES;
    let bad = 0;
    let nz = 0;
    // qs[0..31]: elements m + 32n (n = 0..4); each lane of q stays <= 242, so no carries between lanes.
    for (let k = 0; k < 8; k++) {
      const c0 = w[cw + k], c1 = w[cw + 8 + k], c2 = w[cw + 16 + k], c3 = w[cw + 24 + k], c4 = w[cw + 32 + k];
      bad |= invalidLanes(c0) | invalidLanes(c1) | invalidLanes(c2) | invalidLanes(c3) | invalidLanes(c4);
      nz |= (c0 ^ 0x01010101) | (c1 ^ 0x01010101) | (c2 ^ 0x01010101) | (c3 ^ 0x01010101) | (c4 ^ 0x01010101);
      const q = c0 * 81 + c1 * 27 + c2 * 9 + c3 * 3 + c4;
      const at = o + k * 4;
      dst[at] = ceil[q & 0xff];
      dst[at + 1] = ceil[(q >>> 8) & 0xff];
      dst[at + 2] = ceil[(q >>> 16) & 0xff];
      dst[at + 3] = ceil[q >>> 24];
    }
    // qs[32..47]: elements 160 + m + 16n (m = 0..15).
    for (let k = 0; k < 4; k++) {
      const base = cw + 40;
      const c0 = w[base + k], c1 = w[base + 4 + k], c2 = w[base + 8 + k], c3 = w[base + 12 + k];
      const c4 = w[base + 16 + k];
      bad |= invalidLanes(c0) | invalidLanes(c1) | invalidLanes(c2) | invalidLanes(c3) | invalidLanes(c4);
      nz |= (c0 ^ 0x01010101) | (c1 ^ 0x01010101) | (c2 ^ 0x01010101) | (c3 ^ 0x01010101) | (c4 ^ 0x01010101);
      const q = c0 * 81 + c1 * 27 + c2 * 9 + c3 * 3 + c4;
      const at = o + 32 + k * 4;
      dst[at] = ceil[q & 0xff];
      dst[at + 1] = ceil[(q >>> 8) & 0xff];
      dst[at + 2] = ceil[(q >>> 16) & 0xff];
      dst[at + 3] = ceil[q >>> 24];
    }
    // qh[0..3]: elements 240 + j + 4m (m = 0..3), then one more `q *= 3` so the first trit is the top one.
    {
      const base = cw + 60;
      const c0 = w[base], c1 = w[base + 1], c2 = w[base + 2], c3 = w[base + 3];
      bad |= invalidLanes(c0) | invalidLanes(c1) | invalidLanes(c2) | invalidLanes(c3);
      nz |= (c0 ^ 0x01010101) | (c1 ^ 0x01010101) | (c2 ^ 0x01010101) | (c3 ^ 0x01010101);
      const q = c0 * 81 + c1 * 27 + c2 * 9 + c3 * 3;
      dst[o + 48] = ceil[q & 0xff];
      dst[o + 49] = ceil[(q >>> 8) & 0xff];
      dst[o + 50] = ceil[(q >>> 16) & 0xff];
      dst[o + 51] = ceil[q >>> 24];
    }
    if (bad !== 0) badCode("packTq1_0", codes, b * QK_K, (b + 1) * QK_K);
    writeF16(dst, o + 52, nz === 0 ? 0 : f32ToF16(scales[b]));
  }
}

/**
 * Scalar twin of {@link packTq1_0}: one code at a time, any alignment.
 *
 * @param codes One code per weight in {0, 1, 2}; length a multiple of 256.
 * @param scales One scale per block.
 * @param dst Destination, at least `codes.length / 256 * blockBytes(GgmlType.TQ1_0)` bytes.
 * @throws {RangeError} When lengths do not match or a code is not 0, 1 or 2.
 * @example
 * ```ts
 * import { packTq1_0Ref } from "./ternary.ts";
 * import { blockBytes, GgmlType } from "./ggml_type.ts";
 * const dst = new Uint8Array(blockBytes(GgmlType.TQ1_0));
 * packTq1_0Ref(new Uint8Array(256).fill(2), new Float32Array([1]), dst);
 * console.log(dst[0], dst[48]); // 255 253
 * ```
 */
export function packTq1_0Ref(codes: Uint8Array, scales: Float32Array, dst: Uint8Array): void {
  const nb = checkPack("packTq1_0Ref", codes, scales.length, dst.length, TQ1_0_BYTES);
  for (let b = 0; b < nb; b++) {
    const c = b * QK_K;
    const o = b * TQ1_0_BYTES;
    let nz = false;
    for (let e = 0; e < QK_K; e++) {
      const v = codes[c + e];
      if (v > 2) badCode("packTq1_0Ref", codes, c + e, c + e + 1);
      if (v !== 1) nz = true;
    }
    for (let m = 0; m < 32; m++) {
      let q = 0;
      for (let n = 0; n < 5; n++) q = q * 3 + codes[c + m + n * 32];
      dst[o + m] = TQ1_CEIL[q];
    }
    for (let m = 0; m < 16; m++) {
      let q = 0;
      for (let n = 0; n < 5; n++) q = q * 3 + codes[c + 160 + m + n * 16];
      dst[o + 32 + m] = TQ1_CEIL[q];
    }
    for (let j = 0; j < 4; j++) {
      let q = 0;
      for (let m = 0; m < 4; m++) q = q * 3 + codes[c + 240 + j + m * 4];
      dst[o + 48 + j] = TQ1_CEIL[q * 3];
    }
    writeF16(dst, o + 52, nz ? f32ToF16(scales[b]) : 0);
  }
}

/**
 * Pack ternary codes of a whole tensor into I2_S (packed bytes, then the 32-byte tail with the f32 scale).
 *
 * @param codes One code per weight, `value + 1` in {0, 1, 2}; length a multiple of 128.
 * @param scale The per-tensor scale (stored as f32 in the tail).
 * @param dst Destination, at least `codes.length / 4 + 32` bytes.
 * @throws {RangeError} When lengths do not match or a code is not 0, 1 or 2.
 * @example
 * ```ts
 * import { packI2S } from "./ternary.ts";
 * const codes = new Uint8Array(128).fill(1);
 * codes[0] = 2; // element 0 = +1 lands in bits 7:6 of byte 0
 * const dst = new Uint8Array(32 + 32);
 * packI2S(codes, 2.5, dst);
 * console.log(dst[0].toString(2), new DataView(dst.buffer).getFloat32(32, true)); // "10010101" 2.5
 * ```
 */
export function packI2S(codes: Uint8Array, scale: number, dst: Uint8Array): void {
  const n = codes.length;
  checkWholeBlocks("packI2S", "codes", n, QK_I2_S);
  checkLength("packI2S", "destination bytes", dst.length, n / 4 + I2S_TAIL_BYTES);
  const w = u32Codes(codes);
  if (!w || dst.byteOffset % 4 !== 0) return packI2SRef(codes, scale, dst);
  const out = new Uint32Array(dst.buffer, dst.byteOffset, n / 16);
  const nb = n / QK_I2_S;
  let bad = 0;
  let nz = 0;
  for (let b = 0; b < nb; b++) {
    const cw = b * 32;
    const ow = b * 8;
    for (let k = 0; k < 8; k++) {
      const c0 = w[cw + k], c1 = w[cw + 8 + k], c2 = w[cw + 16 + k], c3 = w[cw + 24 + k];
      bad |= invalidLanes(c0) | invalidLanes(c1) | invalidLanes(c2) | invalidLanes(c3);
      const p = (c0 << 6) | (c1 << 4) | (c2 << 2) | c3;
      nz |= p ^ 0x55555555;
      out[ow + k] = p;
    }
  }
  if (bad !== 0) badCode("packI2S", codes, 0, n);
  writeI2STail(dst, n / 4, nz === 0 ? 0 : scale);
}

/**
 * Scalar twin of {@link packI2S}: one code at a time, any alignment.
 *
 * @param codes One code per weight in {0, 1, 2}; length a multiple of 128.
 * @param scale The per-tensor scale.
 * @param dst Destination, at least `codes.length / 4 + 32` bytes.
 * @throws {RangeError} When lengths do not match or a code is not 0, 1 or 2.
 * @example
 * ```ts
 * import { packI2SRef } from "./ternary.ts";
 * const dst = new Uint8Array(64);
 * packI2SRef(new Uint8Array(128).fill(0), 1, dst); // all -1
 * console.log(dst[0], new DataView(dst.buffer).getFloat32(32, true)); // 0 1
 * ```
 */
export function packI2SRef(codes: Uint8Array, scale: number, dst: Uint8Array): void {
  const n = codes.length;
  checkWholeBlocks("packI2SRef", "codes", n, QK_I2_S);
  checkLength("packI2SRef", "destination bytes", dst.length, n / 4 + I2S_TAIL_BYTES);
  let nz = false;
  for (let b = 0; b < n / QK_I2_S; b++) {
    for (let g = 0; g < 32; g++) {
      let byte = 0;
      for (let grp = 0; grp < 4; grp++) {
        const i = b * QK_I2_S + grp * 32 + g;
        const v = codes[i];
        if (v > 2) badCode("packI2SRef", codes, i, i + 1);
        if (v !== 1) nz = true;
        byte |= v << (6 - 2 * grp);
      }
      dst[b * 32 + g] = byte;
    }
  }
  writeI2STail(dst, n / 4, nz ? scale : 0);
}

function writeI2STail(dst: Uint8Array, at: number, scale: number): void {
  dst.fill(0, at, at + I2S_TAIL_BYTES);
  new DataView(dst.buffer, dst.byteOffset + at, 4).setFloat32(0, scale, true);
}

/**
 * Unpack TQ2_0, TQ1_0 or I2_S bytes into one code per weight (`value + 1`), and return the scales.
 *
 * @param type `GgmlType.TQ2_0`, `GgmlType.TQ1_0` or `GgmlType.I2_S`.
 * @param src Packed bytes: whole blocks (for I2_S the whole tensor including its 32-byte tail).
 * @param dstCodes Destination codes; its length is the number of weights to unpack.
 * @returns The scales as f32: one per 256-weight block (f16 `d`) for TQ types, one per tensor for I2_S.
 * @throws {RangeError} When the type is not ternary or the lengths do not match.
 * @example
 * ```ts
 * import { packTq2_0, unpackTernary } from "./ternary.ts";
 * import { blockBytes, GgmlType } from "./ggml_type.ts";
 * const codes = new Uint8Array(256).map((_, i) => i % 3);
 * const packed = new Uint8Array(blockBytes(GgmlType.TQ2_0));
 * packTq2_0(codes, new Float32Array([1]), packed);
 * const back = new Uint8Array(256);
 * console.log(unpackTernary(GgmlType.TQ2_0, packed, back)[0], back[5]); // 1 2
 * ```
 */
export function unpackTernary(type: GgmlTypeId, src: Uint8Array, dstCodes: Uint8Array): Float32Array {
  const n = dstCodes.length;
  const fn = "unpackTernary";
  const f = new Float32Array(1);
  const fu = new Uint32Array(f.buffer);
  if (type === GgmlType.TQ2_0 || type === GgmlType.TQ1_0) {
    checkWholeBlocks(fn, `${ggmlTypeName(type)} weights`, n, QK_K);
    const nb = n / QK_K;
    const bytes = type === GgmlType.TQ2_0 ? TQ2_0_BYTES : TQ1_0_BYTES;
    checkLength(fn, `${ggmlTypeName(type)} source bytes`, src.length, nb * bytes);
    const scales = new Float32Array(nb);
    const su = new Uint32Array(scales.buffer);
    for (let b = 0; b < nb; b++) {
      const o = b * bytes;
      const c = b * QK_K;
      su[b] = f16BitsToF32Bits(src[o + bytes - 2] | (src[o + bytes - 1] << 8));
      if (type === GgmlType.TQ2_0) unpackTq2_0Block(src, o, dstCodes, c);
      else unpackTq1_0Block(src, o, dstCodes, c);
    }
    return scales;
  }
  if (type === GgmlType.I2_S) {
    checkWholeBlocks(fn, "I2_S weights", n, QK_I2_S);
    checkLength(fn, "I2_S source bytes", src.length, n / 4 + I2S_TAIL_BYTES);
    for (let i = 0; i < n / 4; i++) {
      const byte = src[i];
      const e = (i >>> 5) * QK_I2_S + (i & 31);
      dstCodes[e] = byte >>> 6;
      dstCodes[e + 32] = (byte >>> 4) & 3;
      dstCodes[e + 64] = (byte >>> 2) & 3;
      dstCodes[e + 96] = byte & 3;
    }
    const at = n / 4;
    fu[0] = (src[at] | (src[at + 1] << 8) | (src[at + 2] << 16) | (src[at + 3] << 24)) >>> 0;
    return new Float32Array([f[0]]);
  }
  throw new RangeError(
    `${fn}() cannot unpack type ${
      ggmlTypeName(type)
    } (id ${type}): only TQ1_0 (${GgmlType.TQ1_0}), TQ2_0 (${GgmlType.TQ2_0}) and I2_S (${GgmlType.I2_S}) ` +
      `are ternary. Use quantFormat(id).dequantize for other types.`,
  );
}

function unpackTq2_0Block(src: Uint8Array, o: number, dst: Uint8Array, c: number): void {
  for (let h = 0; h < 2; h++) {
    for (let m = 0; m < 32; m++) {
      const byte = src[o + h * 32 + m];
      const e = c + h * 128 + m;
      dst[e] = byte & 3;
      dst[e + 32] = (byte >>> 2) & 3;
      dst[e + 64] = (byte >>> 4) & 3;
      dst[e + 96] = byte >>> 6;
    }
  }
}

// Trit n of a TQ1_0 byte: `((uint8_t)(byte * 3^n) * 3) >> 8` (ggml-quants.c:2441-2443).
function tritOf(byte: number, pow3: number): number {
  return (((byte * pow3) & 0xff) * 3) >>> 8;
}

const POW3 = [1, 3, 9, 27, 81];

function unpackTq1_0Block(src: Uint8Array, o: number, dst: Uint8Array, c: number): void {
  for (let n = 0; n < 5; n++) {
    const p = POW3[n];
    for (let m = 0; m < 32; m++) dst[c + n * 32 + m] = tritOf(src[o + m], p);
    for (let m = 0; m < 16; m++) dst[c + 160 + n * 16 + m] = tritOf(src[o + 32 + m], p);
  }
  for (let n = 0; n < 4; n++) {
    for (let j = 0; j < 4; j++) dst[c + 240 + n * 4 + j] = tritOf(src[o + 48 + j], POW3[n]);
  }
}
