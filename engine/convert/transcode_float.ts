/**
 * Lossless transcode of a ternary GGUF (I2_S, TQ2_0, TQ1_0 projections) into a float one (F32, or F16 when exact),
 * so that a reference without a kernel for the ternary format (ik_llama.cpp has no I2_S matmul and no TQ1_0/TQ2_0
 * at all; docs/references.md) computes exactly the same weights. Every other tensor, and all metadata, are copied
 * byte for byte; the file gains `crossval.transcode.*` keys saying what was done.
 *
 * Why it is lossless: a ternary weight is `t * s` with `t` in {-1, 0, +1} and `s` an f32 (I2_S, per tensor) or f16
 * (TQ1_0/TQ2_0, per block) scale, and the dequantizers compute exactly that product in f32, which represents it
 * exactly. For F16 the product is exact only when `s` is an f16 value: checked per tensor, refused otherwise. The
 * element-for-element proof against the reference's own dequantizer is a test (`tests/reference_transcode_test.ts`).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { GgufFile } from "../gguf/file.ts";
import type { GgufKv } from "../gguf/types.ts";
import { GgufValueType } from "../gguf/types.ts";
import { type GgufTensorSpec, writeGguf } from "../gguf/writer.ts";
import { f16BitsToF32Bits, f32BitsToF16Bits } from "../quant/fp16.ts";
import { quantFormat } from "../quant/formats.ts";
import { GgmlType, ggmlTypeName } from "../quant/ggml_type.ts";

/** Target float type. */
export type FloatTarget = "f32" | "f16";

/** The ternary types a transcode rewrites by default. */
export const TERNARY_TYPES: readonly number[] = [GgmlType.I2_S, GgmlType.TQ2_0, GgmlType.TQ1_0];

/** What a transcode did, in a form a receipt carries (contract 4: "any transcode applied to the model"). */
export interface TranscodeRecord {
  /** Always `float`: ternary weights rewritten as floats. */
  readonly kind: "float";
  /** Target type. */
  readonly to: FloatTarget;
  /** Tensors rewritten, by their source type (`{ "I2_S": 28 }`). */
  readonly from_types: Readonly<Record<string, number>>;
  /** Names of the rewritten tensors, in file order. */
  readonly tensors: readonly string[];
  /** Lossless by construction (every value is represented exactly; F16 is refused otherwise). */
  readonly lossless: true;
  /** The tool and this function's version: a change of method must be visible in receipts. */
  readonly method: string;
  /** SHA-256 of the file written (hashed as it is written; absent from {@link planTranscode}'s record). */
  readonly sha256?: string;
}

/** Options of {@link transcodeToFloat}. */
export interface TranscodeOptions {
  /** Target type (default `f32`: always exact). */
  readonly to?: FloatTarget;
  /** Source types to rewrite (default {@link TERNARY_TYPES}). */
  readonly types?: readonly number[];
}

/** Version of the method; part of {@link TranscodeRecord.method}. */
export const TRANSCODE_METHOD = "crossval transcode_float v1";

/** Whether every value of `f32` survives a round trip through f16 (same bits back). */
function f16Exact(values: Float32Array): number | null {
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < u.length; i++) {
    if (f16BitsToF32Bits(f32BitsToF16Bits(u[i]!)) !== u[i]) return i;
  }
  return null;
}

/**
 * Plan a transcode: which tensors change and how (no file is written).
 *
 * @param file The open source file.
 * @param opts Target and source types.
 * @returns Tensor specs for the writer (float data produced lazily), and the record.
 * @throws {RangeError} When a tensor's type has no dequantizer, or (F16) a value is not exactly representable.
 */
export function planTranscode(
  file: GgufFile,
  opts: TranscodeOptions = {},
): { tensors: GgufTensorSpec[]; metadata: [string, GgufKv][]; record: TranscodeRecord } {
  const to = opts.to ?? "f32";
  const types = new Set(opts.types ?? TERNARY_TYPES);
  const fromTypes: Record<string, number> = {};
  const names: string[] = [];
  const tensors: GgufTensorSpec[] = file.tensors.map((t) => {
    if (!types.has(t.type)) {
      return { name: t.name, shape: t.shape, type: t.type, data: () => file.readTensor(t.name) };
    }
    const fmt = quantFormat(t.type);
    const from = ggmlTypeName(t.type);
    fromTypes[from] = (fromTypes[from] ?? 0) + 1;
    names.push(t.name);
    return {
      name: t.name,
      shape: t.shape,
      type: to === "f32" ? GgmlType.F32 : GgmlType.F16,
      data: () => {
        const values = new Float32Array(t.nElements);
        fmt.dequantize(file.readTensor(t.name), values);
        if (to === "f32") return new Uint8Array(values.buffer);
        const bad = f16Exact(values);
        if (bad !== null) {
          throw new RangeError(
            `Cannot transcode ${t.name} (${from}) to F16 losslessly: value ${values[bad]} at element ${bad} ` +
              `is not an f16 number (its scale is not). Transcode to F32 instead.`,
          );
        }
        const u = new Uint32Array(values.buffer);
        const out = new Uint16Array(values.length);
        for (let i = 0; i < u.length; i++) out[i] = f32BitsToF16Bits(u[i]!);
        return new Uint8Array(out.buffer);
      },
    };
  });
  const record: TranscodeRecord = {
    kind: "float",
    to,
    from_types: fromTypes,
    tensors: names,
    lossless: true,
    method: TRANSCODE_METHOD,
  };
  const metadata: [string, GgufKv][] = [...file.header.metadata]
    .filter(([k]) => !k.startsWith("crossval.transcode."))
    // `general.file_type` names the file's main tensor type (llama.cpp prints it in the model description): after
    // the rewrite that is LLAMA_FTYPE_ALL_F32 (0) or LLAMA_FTYPE_MOSTLY_F16 (1), in the key's own value type.
    .map(([k, v]): [string, GgufKv] =>
      k === "general.file_type" && names.length > 0 ? [k, { type: v.type, value: to === "f32" ? 0 : 1 }] : [k, v]
    );
  const str = (value: string): GgufKv => ({ type: GgufValueType.STRING, value });
  metadata.push(
    ["crossval.transcode.method", str(TRANSCODE_METHOD)],
    ["crossval.transcode.to", str(to)],
    ["crossval.transcode.from_types", str(Object.entries(fromTypes).map(([k, v]) => `${k}:${v}`).join(","))],
  );
  return { tensors, metadata, record };
}

/**
 * Transcode a GGUF file's ternary tensors to floats, writing `outPath` atomically (a temporary file beside it,
 * renamed into place once complete).
 *
 * @param inPath Source GGUF.
 * @param outPath Destination GGUF.
 * @param opts Target (`f32` default) and source types.
 * @returns What was done, for the receipt.
 * @throws {RangeError} When a tensor cannot be transcoded losslessly (the message names it and the fix).
 * @example
 * ```ts
 * import { transcodeToFloat } from "./transcode_float.ts";
 * import { writeSyntheticModel } from "../synth/write.ts";
 * const dir = await Deno.makeTempDir();
 * await writeSyntheticModel(`${dir}/b158.gguf`, { preset: "tiny", arch: "bitnet-b1.58", type: "i2_s" });
 * const record = await transcodeToFloat(`${dir}/b158.gguf`, `${dir}/b158.f32.gguf`);
 * console.log(record.from_types, record.lossless); // { I2_S: 28 } true (7 projections in each of 4 layers)
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function transcodeToFloat(
  inPath: string,
  outPath: string,
  opts: TranscodeOptions = {},
): Promise<TranscodeRecord> {
  using file = GgufFile.open(inPath);
  const { tensors, metadata, record } = planTranscode(file, opts);
  const dir = outPath.includes("/") ? outPath.slice(0, outPath.lastIndexOf("/")) : ".";
  const tmp = await Deno.makeTempFile({ dir, prefix: ".transcode-", suffix: ".gguf.partial" });
  let sha256: string;
  try {
    const out = await Deno.open(tmp, { write: true, truncate: true });
    const hash = createHash("sha256");
    try {
      await writeGguf({ metadata, tensors }, {
        async write(chunk) {
          hash.update(chunk);
          for (let at = 0; at < chunk.length;) at += await out.write(chunk.subarray(at));
        },
      });
    } finally {
      out.close();
    }
    sha256 = hash.digest("hex");
    // makeTempFile creates the file private (0600); the transcode is as readable as any other model file.
    await Deno.chmod(tmp, 0o644);
    await Deno.rename(tmp, outPath);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  return { ...record, sha256 };
}
