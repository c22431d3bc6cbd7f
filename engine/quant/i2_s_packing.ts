/**
 * The I2_S packings of microsoft/BitNet (bitnet.cpp). Its `quantize_i2_s` (`src/ggml-bitnet-mad.cpp`) picks one at
 * compile time and writes it under the same GGML type id 36, with the same size (`n/4` bytes, then a 32-byte tail
 * whose first 4 bytes are the f32 per-tensor scale), so a file cannot say which one it holds:
 *
 * - `act-parallel`: x86 with `ACT_PARALLEL` defined, as `include/gemm-config.h` ships. 128-weight blocks of 32 bytes;
 *   byte `g` of a block holds elements `g, 32+g, 64+g, 96+g` in bits 7:6, 5:4, 3:2, 1:0. The only packing before
 *   microsoft/BitNet commit 112f853 (2025-11-19), on every architecture; the official
 *   `microsoft/bitnet-b1.58-2B-4T-gguf` file, the Python converters (`utils/convert-hf-to-gguf-bitnet.py`
 *   `quantize_to_i2_s`) and this project's writer use it. The engine computes on this packing only.
 * - `row-1x4`: x86 with `ACT_PARALLEL` removed from that header. Rows in groups of 4; byte `c` of group `g` holds
 *   column `c` of rows `4g, 4g+1, 4g+2, 4g+3` in bits 7:6, 5:4, 3:2, 1:0 (read by `ggml_vec_dot_i2_i8_s_1x4_32W`).
 * - `neon-64`: ARM NEON builds since 112f853 (`QK_I2_S` 64): 64-weight blocks of 16 bytes; byte `g` holds elements
 *   `g, 16+g, 32+g, 48+g` (checked against that build under qemu, docs/formats.md section 2a). microsoft/BitNet issues
 *   #585, #598 and PR #551 report that the ARM kernels then read the official (act-parallel) file scrambled; a file
 *   quantized on such a build carries this packing.
 *
 * docs/formats.md section 2 has the evidence. Codes are `value + 1` in {0, 1, 2}, row-major with `ne0` fastest, as
 * in `ternary.ts`.
 *
 * @module
 */

import { QK_I2_S } from "./i2_s.ts";
import { I2S_TAIL_BYTES, packI2S, unpackTernary } from "./ternary.ts";
import { GgmlType } from "./ggml_type.ts";
import { checkLength, checkWholeBlocks } from "./_private.ts";

/** An I2_S packing (see the module documentation). */
export type I2SPacking = "act-parallel" | "row-1x4" | "neon-64";

/** Every packing, the default (what real files carry) first. */
export const I2S_PACKINGS: readonly I2SPacking[] = ["act-parallel", "row-1x4", "neon-64"];

/** Rows interleaved per byte in the `row-1x4` packing (four 2-bit codes per byte). */
const ROWS_PER_BYTE = 4;
/** Weights per block in the `neon-64` packing (`QK_I2_S` under `__ARM_NEON`: half of the x86 block). */
const QK_I2_S_NEON = QK_I2_S / 2;

/** Shape of an I2_S tensor: `rows` rows of `rowLength` weights (GGML `ne1`, `ne0`). */
export interface I2SShape {
  /** Rows (`ne1` times any higher dimensions). */
  readonly rows: number;
  /** Weights per row (`ne0`). */
  readonly rowLength: number;
}

/**
 * Parse a packing name.
 *
 * @param name One of {@link I2S_PACKINGS}.
 * @returns The packing.
 * @throws {RangeError} For another name; the message lists the valid ones.
 * @example
 * ```ts
 * import { parseI2SPacking } from "./i2_s_packing.ts";
 * console.log(parseI2SPacking("row-1x4")); // "row-1x4"
 * ```
 */
export function parseI2SPacking(name: string): I2SPacking {
  if ((I2S_PACKINGS as readonly string[]).includes(name)) return name as I2SPacking;
  throw new RangeError(`Unknown I2_S packing "${name}": expected one of ${I2S_PACKINGS.join(", ")}`);
}

function checkShape(fn: string, packing: I2SPacking, shape: I2SShape, n: number): void {
  const { rows, rowLength } = shape;
  if (!Number.isInteger(rows) || !Number.isInteger(rowLength) || rows < 0 || rowLength < 0 || rows * rowLength !== n) {
    throw new RangeError(`${fn}() got ${n} codes for a shape of ${rows} x ${rowLength}. Pass the tensor's own shape.`);
  }
  // bitnet.cpp's kernels walk whole blocks per row: every packing needs rows of whole 128-weight blocks.
  checkWholeBlocks(fn, "weights per row", rowLength, QK_I2_S);
  if (packing === "row-1x4" && rows % ROWS_PER_BYTE !== 0) {
    throw new RangeError(
      `${fn}() cannot use the row-1x4 packing for ${rows} rows: it interleaves groups of ${ROWS_PER_BYTE} rows ` +
        `(quantize_i2_s asserts nrow % 4 == 0). Use act-parallel.`,
    );
  }
}

/**
 * Unpack an I2_S tensor stored in `packing` into one code per weight, and return its scale.
 *
 * @param src The tensor's bytes (`n/4` packed bytes and the 32-byte tail).
 * @param packing How the bytes are packed.
 * @param shape Rows and row length (their product is `dstCodes.length`).
 * @param dstCodes Destination, one code (`value + 1`) per weight, row-major.
 * @returns The f32 per-tensor scale (the first 4 tail bytes).
 * @throws {RangeError} When the shape or lengths do not fit the packing.
 * @example
 * ```ts
 * import { packI2SCodes, unpackI2SCodes } from "./i2_s_packing.ts";
 * const codes = new Uint8Array(4 * 128).map((_, i) => i % 3);
 * const bytes = new Uint8Array(4 * 128 / 4 + 32);
 * packI2SCodes(codes, 0.5, "row-1x4", { rows: 4, rowLength: 128 }, bytes);
 * const back = new Uint8Array(codes.length);
 * console.log(unpackI2SCodes(bytes, "row-1x4", { rows: 4, rowLength: 128 }, back), back[7]); // 0.5 1
 * ```
 */
export function unpackI2SCodes(src: Uint8Array, packing: I2SPacking, shape: I2SShape, dstCodes: Uint8Array): number {
  const n = dstCodes.length;
  checkShape("unpackI2SCodes", packing, shape, n);
  checkLength("unpackI2SCodes", "source bytes (packed codes and the 32-byte tail)", src.length, n / 4 + I2S_TAIL_BYTES);
  if (packing === "act-parallel") return unpackTernary(GgmlType.I2_S, src, dstCodes)[0];
  if (packing === "row-1x4") {
    const k = shape.rowLength;
    for (let g = 0; g < shape.rows / ROWS_PER_BYTE; g++) {
      const base = g * k, r0 = g * ROWS_PER_BYTE * k;
      for (let c = 0; c < k; c++) {
        const byte = src[base + c];
        dstCodes[r0 + c] = byte >>> 6;
        dstCodes[r0 + k + c] = (byte >>> 4) & 3;
        dstCodes[r0 + 2 * k + c] = (byte >>> 2) & 3;
        dstCodes[r0 + 3 * k + c] = byte & 3;
      }
    }
  } else {
    const q = QK_I2_S_NEON / 4;
    for (let i = 0; i < n / 4; i++) {
      const byte = src[i];
      const e = Math.floor(i / q) * QK_I2_S_NEON + (i % q);
      dstCodes[e] = byte >>> 6;
      dstCodes[e + q] = (byte >>> 4) & 3;
      dstCodes[e + 2 * q] = (byte >>> 2) & 3;
      dstCodes[e + 3 * q] = byte & 3;
    }
  }
  return new DataView(src.buffer, src.byteOffset + n / 4, 4).getFloat32(0, true);
}

/**
 * Pack one code per weight into an I2_S tensor in `packing`: the bytes Microsoft's `quantize_i2_s` of that build
 * writes for the weights `(code - 1) * scale` (an all-zero tensor gets scale 0, as there), with the tail's other 28
 * bytes zero.
 *
 * @param codes One code (`value + 1` in {0, 1, 2}) per weight, row-major.
 * @param scale The per-tensor scale.
 * @param packing The packing to write.
 * @param shape Rows and row length.
 * @param dst Destination, at least `codes.length / 4 + 32` bytes.
 * @throws {RangeError} When the shape or lengths do not fit, or a code is not 0, 1 or 2.
 * @example
 * ```ts
 * import { packI2SCodes } from "./i2_s_packing.ts";
 * const codes = new Uint8Array(4 * 128).fill(1);
 * codes[128] = 2; // row 1, column 0 -> bits 5:4 of byte 0
 * const dst = new Uint8Array(128 + 32);
 * packI2SCodes(codes, 1, "row-1x4", { rows: 4, rowLength: 128 }, dst);
 * console.log(dst[0].toString(2)); // "1100101"
 * ```
 */
export function packI2SCodes(
  codes: Uint8Array,
  scale: number,
  packing: I2SPacking,
  shape: I2SShape,
  dst: Uint8Array,
): void {
  const n = codes.length;
  checkShape("packI2SCodes", packing, shape, n);
  checkLength("packI2SCodes", "destination bytes", dst.length, n / 4 + I2S_TAIL_BYTES);
  if (packing === "act-parallel") return packI2S(codes, scale, dst);
  let nz = false;
  for (let i = 0; i < n; i++) {
    const v = codes[i];
    if (v > 2) {
      throw new RangeError(`packI2SCodes() cannot pack code ${v} at index ${i}: codes must be value + 1 in {0, 1, 2}`);
    }
    if (v !== 1) nz = true;
  }
  if (packing === "row-1x4") {
    const k = shape.rowLength;
    for (let g = 0; g < shape.rows / ROWS_PER_BYTE; g++) {
      const base = g * k, r0 = g * ROWS_PER_BYTE * k;
      for (let c = 0; c < k; c++) {
        dst[base + c] = (codes[r0 + c] << 6) | (codes[r0 + k + c] << 4) | (codes[r0 + 2 * k + c] << 2) |
          codes[r0 + 3 * k + c];
      }
    }
  } else {
    const q = QK_I2_S_NEON / 4;
    for (let i = 0; i < n / 4; i++) {
      const e = Math.floor(i / q) * QK_I2_S_NEON + (i % q);
      dst[i] = (codes[e] << 6) | (codes[e + q] << 4) | (codes[e + 2 * q] << 2) | codes[e + 3 * q];
    }
  }
  dst.fill(0, n / 4, n / 4 + I2S_TAIL_BYTES);
  new DataView(dst.buffer, dst.byteOffset + n / 4, 4).setFloat32(0, nz ? scale : 0, true);
}

/** What {@link i2sRowDispersion} measured for one candidate packing. */
export interface I2SPackingEvidence {
  /** The packing the codes were decoded with. */
  readonly packing: I2SPacking;
  /**
   * Variance of the per-row count of zero weights, over its value for independent codes with the same overall
   * zero rate (`K p (1 - p)`): about 1 when rows do not differ, larger when they do.
   */
  readonly dispersion: number;
}

/**
 * A statistic that tells `act-parallel` from `row-1x4` on trained weights: decoded with the right packing, rows keep
 * their own zero rates (absmean ternarization zeroes more weights in rows of smaller magnitude, so the per-row zero
 * count varies far more than for independent codes); decoded with the wrong one, every row is a mix of quarters of
 * four true rows, which divides the excess variance by about 4. On codes drawn independently (random synthetic
 * models) both dispersions are about 1 and the statistic says nothing. `neon-64` differs from `act-parallel` only by
 * a permutation inside each row, which no per-row statistic can see.
 *
 * @param src The tensor's bytes.
 * @param shape Rows and row length (rows a multiple of 4).
 * @returns The dispersion under `act-parallel` and under `row-1x4`.
 * @throws {RangeError} When the shape does not fit.
 * @example
 * ```ts
 * import { i2sRowDispersion, packI2SCodes } from "./i2_s_packing.ts";
 * const rows = 64, k = 256;
 * const codes = new Uint8Array(rows * k).map((_, i) => (Math.floor(i / k) % 2 === 0 || i % 2 === 0) ? 1 : 2);
 * const bytes = new Uint8Array(rows * k / 4 + 32);
 * packI2SCodes(codes, 1, "act-parallel", { rows, rowLength: k }, bytes);
 * const [a, b] = i2sRowDispersion(bytes, { rows, rowLength: k });
 * console.log(a.dispersion > 4 * b.dispersion); // true
 * ```
 */
export function i2sRowDispersion(src: Uint8Array, shape: I2SShape): [I2SPackingEvidence, I2SPackingEvidence] {
  const n = shape.rows * shape.rowLength;
  const codes = new Uint8Array(n);
  return (["act-parallel", "row-1x4"] as const).map((packing) => {
    unpackI2SCodes(src, packing, shape, codes);
    let total = 0, sumSq = 0;
    for (let r = 0; r < shape.rows; r++) {
      let z = 0;
      for (let c = r * shape.rowLength; c < (r + 1) * shape.rowLength; c++) z += +(codes[c] === 1);
      total += z;
      sumSq += z * z;
    }
    const mean = total / shape.rows;
    const variance = shape.rows > 1 ? (sumSq - shape.rows * mean * mean) / (shape.rows - 1) : 0;
    const p = mean / shape.rowLength;
    const binomial = shape.rowLength * p * (1 - p);
    return { packing, dispersion: binomial > 0 ? variance / binomial : 1 };
  }) as [I2SPackingEvidence, I2SPackingEvidence];
}
