/**
 * Test-only fault injection: deliberate, well-known implementation bugs that a parity harness must detect and
 * localize to a layer. Every fault names the layer it breaks and changes the computation at that layer only; with
 * no faults (the default) none of this code runs.
 *
 * The faults are computed in TypeScript directly on the arena (they never need a kernel of their own), so they
 * work with every backend.
 *
 * @module
 */

import { blockBytes, GgmlType } from "../quant/ggml_type.ts";

/** Projections a code flip can target. */
export type ProjectionName = "attn_q" | "attn_k" | "attn_v" | "attn_output" | "ffn_gate" | "ffn_up" | "ffn_down";

/** Faults to inject (TEST-ONLY; leave unset in real use). Each value is the layer it breaks. */
export interface Faults {
  /** Rotate adjacent pairs `(2i, 2i+1)` (GGML_ROPE_TYPE_NORMAL) instead of NEOX pairs `(i, i + R/2)`. */
  readonly ropeNorm?: number;
  /**
   * Rotate K as if each token were one position later than its query (the keys in the cache and the queries disagree
   * by one position). Shifting Q and K together would be invisible: RoPE scores depend only on relative positions.
   */
  readonly positionOffByOne?: number;
  /** Skip the attention sub-norm before `attn_output` (its input is the raw attention output). */
  readonly skipSubNorm?: number;
  /** Use SiLU where the architecture uses relu2, and relu2 where it uses SiLU. */
  readonly swapActivation?: number;
  /**
   * Flip the sign of one ternary weight: the first non-zero weight of row `row` (default 0) of `tensor`
   * (default `ffn_down`) in layer `layer`.
   */
  readonly flipTernarySign?: { readonly layer: number; readonly tensor?: ProjectionName; readonly row?: number };
  /** Quantize activations per token (one scale per row) instead of per 256-block (Q8_K) for TQ weights. */
  readonly perTokenActQuant?: number;
}

/** The fault names, for validation messages. */
export const FAULT_NAMES: readonly (keyof Faults)[] = [
  "ropeNorm",
  "positionOffByOne",
  "skipSubNorm",
  "swapActivation",
  "flipTernarySign",
  "perTokenActQuant",
];

/**
 * Check a fault set against the model.
 *
 * @param faults Requested faults.
 * @param nLayer Layer count.
 * @param hasTq True when the model has TQ1_0/TQ2_0 weights (per-token quantization only applies to them).
 * @throws {RangeError} For an unknown fault or a layer out of range.
 */
export function validateFaults(faults: Faults, nLayer: number, hasTq: boolean): void {
  for (const key of Object.keys(faults)) {
    if (!FAULT_NAMES.includes(key as keyof Faults)) {
      throw new RangeError(`Unknown fault "${key}": expected one of ${FAULT_NAMES.join(", ")}`);
    }
  }
  const layers: [string, number | undefined][] = [
    ["ropeNorm", faults.ropeNorm],
    ["positionOffByOne", faults.positionOffByOne],
    ["skipSubNorm", faults.skipSubNorm],
    ["swapActivation", faults.swapActivation],
    ["flipTernarySign.layer", faults.flipTernarySign?.layer],
    ["perTokenActQuant", faults.perTokenActQuant],
  ];
  for (const [name, l] of layers) {
    if (l !== undefined && (!Number.isInteger(l) || l < 0 || l >= nLayer)) {
      throw new RangeError(`Cannot inject fault ${name}=${l}: the model has layers 0..${nLayer - 1}`);
    }
  }
  if (faults.perTokenActQuant !== undefined && !hasTq) {
    throw new RangeError(
      "Cannot inject fault perTokenActQuant: the model's weights are I2_S, whose activations are already quantized per token",
    );
  }
}

const fr = Math.fround;

/**
 * GGML_ROPE_TYPE_NORMAL rotation in place (ggml-cpu/ops.cpp `rotate_pairs(n_dims, 1, cache, ..., 1)`): pair
 * `(2j, 2j+1)` rotated by angle j. The wrong pairing for a NEOX model.
 *
 * @param x Rows `[T][heads][D]`.
 * @param cs RoPE table rows `[T][R]` (R/2 cosines then R/2 sines).
 * @param dims T, heads, D, R.
 */
export function ropeNormInPlace(
  x: Float32Array,
  cs: Float32Array,
  dims: { readonly nTok: number; readonly nHead: number; readonly headDim: number; readonly nRot: number },
): void {
  const { nTok, nHead, headDim, nRot } = dims;
  const half = nRot / 2;
  for (let t = 0; t < nTok; t++) {
    for (let h = 0; h < nHead; h++) {
      const base = (t * nHead + h) * headDim;
      for (let j = 0; j < half; j++) {
        const cos = cs[t * nRot + j], sin = cs[t * nRot + half + j];
        const x0 = x[base + 2 * j], x1 = x[base + 2 * j + 1];
        x[base + 2 * j] = fr(fr(x0 * cos) - fr(x1 * sin));
        x[base + 2 * j + 1] = fr(fr(x0 * sin) + fr(x1 * cos));
      }
    }
  }
}

/**
 * Per-token activation quantization written in the Q8_K layout: one `iscale = -127/max` for the whole row
 * (signed absmax over all K values) shared by every 256-block, instead of one per block. The TQ x Q8_K matmul
 * consumes it unchanged.
 *
 * @param x One row of K floats.
 * @param dst The row's `K/256` Q8_K blocks.
 */
export function quantizeRowQ8KPerToken(x: Float32Array, dst: Uint8Array): void {
  let max = 0, amax = 0;
  for (let j = 0; j < x.length; j++) {
    const a = Math.abs(x[j]);
    if (a > amax) {
      amax = a;
      max = x[j];
    }
  }
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  const iscale = amax === 0 ? 0 : fr(-127 / max);
  for (let b = 0; b < x.length / 256; b++) {
    const o = b * blockBytes(GgmlType.Q8_K);
    dv.setFloat32(o, amax === 0 ? 0 : fr(1 / iscale), true);
    for (let g = 0; g < 16; g++) {
      let s = 0;
      for (let j = 0; j < 16; j++) {
        const v = fr(iscale * x[b * 256 + g * 16 + j]);
        const q = Math.min(127, Math.fround(v + 12582912) - 12582912);
        dv.setInt8(o + 4 + g * 16 + j, q);
        s += q;
      }
      dv.setInt16(o + 260 + g * 2, s, true);
    }
  }
}

/** Trit `l` (0 = most significant) of a TQ1_0 byte, as ggml decodes it. */
function tq1Trit(byte: number, l: number): number {
  return ((((byte * 3 ** l) & 0xff) * 3) >>> 8);
}

/** Location of element `e` (0..255) of a TQ1_0 block: byte offset, trit index, trits in that byte. */
function tq1Where(e: number): [number, number, number] {
  if (e < 160) return [e % 32, Math.floor(e / 32), 5];
  if (e < 240) return [32 + ((e - 160) % 16), Math.floor((e - 160) / 16), 5];
  return [48 + ((e - 240) % 4), Math.floor((e - 240) / 4), 4];
}

/**
 * Flip the sign of the first non-zero weight of one row of a ternary tensor, in place.
 *
 * @param bytes The tensor's bytes (GGUF layout).
 * @param type GGML type (TQ2_0, TQ1_0 or I2_S).
 * @param k Row length K.
 * @param row Row index.
 * @returns The element index that was flipped.
 * @throws {RangeError} When the row has no non-zero weight or the type is not ternary.
 */
export function flipFirstNonZero(bytes: Uint8Array, type: number, k: number, row: number): number {
  for (let e = 0; e < k; e++) {
    if (type === GgmlType.TQ2_0) {
      const bb = blockBytes(GgmlType.TQ2_0), blk = row * (k / 256) * bb + Math.floor(e / 256) * bb, r = e % 256;
      const at = blk + (r >> 7) * 32 + (r & 31), shift = 2 * ((r & 127) >> 5);
      const c = (bytes[at] >> shift) & 3;
      if (c === 1) continue;
      bytes[at] = (bytes[at] & ~(3 << shift)) | ((2 - c) << shift);
      return e;
    }
    if (type === GgmlType.TQ1_0) {
      const bb = blockBytes(GgmlType.TQ1_0), blk = row * (k / 256) * bb + Math.floor(e / 256) * bb;
      const [off, l, n] = tq1Where(e % 256);
      const byte = bytes[blk + off];
      const trits = Array.from({ length: n }, (_, i) => tq1Trit(byte, i));
      if (trits[l] === 1) continue;
      trits[l] = 2 - trits[l];
      let q = 0;
      for (const t of trits) q = q * 3 + t;
      if (n === 4) q *= 3;
      bytes[blk + off] = Math.floor((q * 256 + 242) / 243);
      return e;
    }
    if (type === GgmlType.I2_S) {
      const at = row * (k / 4) + Math.floor(e / 128) * 32 + (e & 31), shift = 6 - 2 * ((e & 127) >> 5);
      const c = (bytes[at] >> shift) & 3;
      if (c === 1) continue;
      bytes[at] = (bytes[at] & ~(3 << shift)) | ((2 - c) << shift);
      return e;
    }
    throw new RangeError(`Cannot flip a ternary code in a tensor of type ${type}: expected TQ2_0, TQ1_0 or I2_S`);
  }
  throw new RangeError(`Cannot inject flipTernarySign: row ${row} has no non-zero weight. Pick another row.`);
}
