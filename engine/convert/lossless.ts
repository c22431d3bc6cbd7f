/**
 * {@link compareWeights}: prove two GGUF files hold the same model, element for element. Every ternary weight is
 * dequantized with the reference dequantizers (`engine/quant`, bit-exact with ggml and bitnet.cpp) and multiplied by
 * its `.scale` tensor, if any, in f64 (the product of an f16 or f32 scale and an f32 value is exact there): the
 * weights a matmul uses must be equal as numbers. Every other tensor must have the same type, shape and bytes.
 *
 * @module
 */

import { GgufFile } from "../gguf/file.ts";
import type { GgufTensorInfo } from "../gguf/types.ts";
import { GgmlType, ggmlTypeName } from "../quant/ggml_type.ts";
import { quantFormat } from "../quant/formats.ts";
import { type I2SPacking, packI2SCodes, unpackI2SCodes } from "../quant/i2_s_packing.ts";
import { CHUNK, companionOf, readAt, scaleValue } from "./_private.ts";
import { isTernaryType } from "./ternary_weights.ts";

/** Options of {@link compareWeights}. */
export interface CompareWeightsOptions {
  /** Packing of the first file's I2_S tensors (default `act-parallel`). */
  readonly i2sPackingA?: I2SPacking;
  /** Packing of the second file's I2_S tensors (default `act-parallel`). */
  readonly i2sPackingB?: I2SPacking;
}

/** The verdict. */
export interface WeightComparison {
  /** True when every tensor matched. */
  readonly ok: boolean;
  /** Tensors compared (weights with their `.scale` count once). */
  readonly tensors: number;
  /** Weights compared element by element. */
  readonly elements: number;
  /** One line per mismatch: tensor, first differing element, both values. */
  readonly problems: readonly string[];
}

function effective(f: GgufFile, t: GgufTensorInfo, packing: I2SPacking): Float32Array {
  let bytes = f.readTensor(t.name);
  const out = new Float32Array(t.nElements);
  if (t.type === GgmlType.I2_S && packing !== "act-parallel") {
    // Repack into the layout the reference dequantizer reads; the codes and the scale are unchanged.
    const shape = { rows: t.nElements / t.shape[0], rowLength: t.shape[0] };
    const codes = new Uint8Array(t.nElements);
    const scale = unpackI2SCodes(bytes, packing, shape, codes);
    bytes = new Uint8Array(bytes.length);
    packI2SCodes(codes, scale, "act-parallel", shape, bytes);
    new DataView(bytes.buffer).setFloat32(t.nElements / 4, scale, true); // also for an all-zero tensor
  }
  quantFormat(t.type).dequantize(bytes, out);
  return out;
}

function sameBytes(fa: Deno.FsFile, a: GgufFile, ta: GgufTensorInfo, fb: Deno.FsFile, b: GgufFile, tb: GgufTensorInfo) {
  const ba = new Uint8Array(Math.min(CHUNK, ta.byteLength)), bb = new Uint8Array(ba.length);
  for (let at = 0; at < ta.byteLength; at += CHUNK) {
    const n = Math.min(CHUNK, ta.byteLength - at);
    readAt(fa, a.header.dataOffset + ta.offset + at, ba.subarray(0, n), `tensor ${ta.name} of "${a.path}"`);
    readAt(fb, b.header.dataOffset + tb.offset + at, bb.subarray(0, n), `tensor ${tb.name} of "${b.path}"`);
    for (let i = 0; i < n; i++) if (ba[i] !== bb[i]) return at + i;
  }
  return -1;
}

/**
 * Compare the weights of two GGUF files element for element.
 *
 * @param pathA First file (e.g. the original).
 * @param pathB Second file (e.g. its conversion).
 * @param options I2_S packings of the two files.
 * @returns The verdict with one line per mismatch.
 * @throws {RangeError} / {SyntaxError} When a file is malformed or truncated.
 * @example
 * ```ts
 * import { compareWeights } from "./lossless.ts";
 * // const v = compareWeights("model-i2_s.gguf", "model-tq2_0.gguf");
 * // console.log(v.ok, v.elements);
 * ```
 */
export function compareWeights(pathA: string, pathB: string, options: CompareWeightsOptions = {}): WeightComparison {
  using a = GgufFile.open(pathA);
  using b = GgufFile.open(pathB);
  using fa = Deno.openSync(pathA, { read: true });
  using fb = Deno.openSync(pathB, { read: true });
  const problems: string[] = [];
  let tensors = 0, elements = 0;
  const companionsOf = (f: GgufFile) =>
    new Set(f.tensors.filter((t) => isTernaryType(t.type)).map((t) => companionOf(f, t)?.name).filter(Boolean));
  const skipA = companionsOf(a), skipB = companionsOf(b);
  const namesA = a.tensors.filter((t) => !skipA.has(t.name)).map((t) => t.name);
  const namesB = new Set(b.tensors.filter((t) => !skipB.has(t.name)).map((t) => t.name));
  for (const n of namesB) if (!namesA.includes(n)) problems.push(`${n}: only in "${pathB}"`);
  for (const name of namesA) {
    const ta = a.tensor(name)!, tb = b.tensor(name);
    if (!tb || !namesB.has(name)) {
      problems.push(`${name}: missing in "${pathB}"`);
      continue;
    }
    tensors++;
    if (ta.shape.join(",") !== tb.shape.join(",")) {
      problems.push(`${name}: shape [${ta.shape.join(", ")}] vs [${tb.shape.join(", ")}]`);
      continue;
    }
    if (!isTernaryType(ta.type) && !isTernaryType(tb.type)) {
      if (ta.type !== tb.type) problems.push(`${name}: type ${ggmlTypeName(ta.type)} vs ${ggmlTypeName(tb.type)}`);
      else {
        const at = sameBytes(fa, a, ta, fb, b, tb);
        if (at >= 0) problems.push(`${name}: byte ${at} differs`);
      }
      continue;
    }
    const ca = companionOf(a, ta), cb = companionOf(b, tb);
    const sa = ca ? scaleValue(a, ca) : 1, sb = cb ? scaleValue(b, cb) : 1;
    const va = effective(a, ta, options.i2sPackingA ?? "act-parallel");
    const vb = effective(b, tb, options.i2sPackingB ?? "act-parallel");
    elements += va.length;
    for (let i = 0; i < va.length; i++) {
      const x = va[i] * sa, y = vb[i] * sb;
      if (x !== y && !(x !== x && y !== y)) {
        problems.push(
          `${name}: element ${i} is ${x} (${ggmlTypeName(ta.type)}${ca ? " x .scale" : ""}) vs ${y} ` +
            `(${ggmlTypeName(tb.type)}${cb ? " x .scale" : ""})`,
        );
        break;
      }
    }
  }
  return { ok: problems.length === 0, tensors, elements, problems };
}
