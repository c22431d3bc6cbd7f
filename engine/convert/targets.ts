/**
 * Conversion targets: how one ternary weight (and its companion `.scale` tensor) is rewritten in another format
 * without changing any weight the matmul sees, or why that is impossible. Pure planning over decoded tensors; the
 * file work is `convert_gguf.ts`.
 *
 * The rules (docs/CROSSVAL.md "crossval convert"):
 * - TQ1_0 <-> TQ2_0: codes and every block's f16 `d` are copied bit for bit.
 * - I2_S -> TQ1_0/TQ2_0: TQ keeps one f16 `d` per 256 weights. When the I2_S f32 scale is an f16 value it becomes
 *   every block's `d`; otherwise `d = 1` and the exact scale goes into the `.scale` tensor, which llama.cpp's bitnet
 *   graph (and the engine) multiplies after the matmul. Blocks whose weights are all zero get `d = 0`, as ggml's
 *   quantizer writes them.
 * - TQ1_0/TQ2_0 -> I2_S: I2_S keeps one scale per tensor, so every block that has a non-zero weight must have the same
 *   `d`; a `.scale` tensor next to `d = 1` is folded back into the I2_S scale (so I2_S -> TQ -> I2_S gives the
 *   original bytes).
 * - Refused, with the reason: rows that are not whole blocks of the target, block scales that differ, a scale that is
 *   not finite, a code that is not ternary (a corrupt tensor), a product of two scales that is not an f32.
 *
 * A target is an object with `plan` and `encode`, so a float target (F32/F16, for references that have no ternary
 * kernels) plugs into the same converter.
 *
 * @module
 */

import { GgmlType, type GgmlTypeId, ggmlTypeInfo, ggmlTypeName } from "../quant/ggml_type.ts";
import { f16ToF32, f32ToF16 } from "../quant/fp16.ts";
import { encodeTernary, type TernaryEncoding, type TernaryWeights } from "./ternary_weights.ts";

/** A conversion that would change weights (or cannot be done) and was therefore not done. */
export class ConversionRefusedError extends Error {
  /** Exit code for the CLI: the requested conversion failed its losslessness check. */
  readonly exitCode = 1;
  /** Each refused tensor with its reason. */
  readonly problems: readonly ConversionProblem[];
  /** Creates the error from its problems (at least one). */
  constructor(message: string, problems: readonly ConversionProblem[]) {
    super(message);
    this.name = "ConversionRefusedError";
    this.problems = problems;
  }
}

/** One tensor that cannot be converted losslessly. */
export interface ConversionProblem {
  /** Tensor name. */
  readonly tensor: string;
  /** Why, in words a user understands. */
  readonly reason: string;
}

/** How one weight is written: its new type and scales, and a note for the report. */
export interface WeightPlan extends TernaryEncoding {
  /** What happened to the scales, one line (`scale 0.0123 moved to blk.0.attn_q.scale`). */
  readonly note: string;
}

/** A target format. */
export interface ConvertTarget {
  /** Name as the CLI spells it (`tq2_0`). */
  readonly name: string;
  /** GGML type of the converted weights. */
  readonly type: GgmlTypeId;
  /** `general.file_type` (llama.h `enum llama_ftype`) of a file whose weights are all this type. */
  readonly fileType: number;
  /**
   * Plan one weight.
   *
   * @param name Tensor name (for messages).
   * @param w The decoded weight, with its `.scale` value if any.
   * @returns The plan.
   * @throws {ConversionRefusedError} When the weight cannot be written losslessly.
   */
  plan(name: string, w: TernaryWeights): WeightPlan;
  /** Encode a weight according to its plan. */
  encode(w: TernaryWeights, shape: readonly number[], plan: WeightPlan): Uint8Array;
}

function refuse(tensor: string, reason: string): never {
  throw new ConversionRefusedError(`Cannot convert ${tensor} losslessly: ${reason}`, [{ tensor, reason }]);
}

function checkCodes(name: string, w: TernaryWeights): void {
  if (w.tensorScale !== undefined) finite(name, ".scale tensor", w.tensorScale);
  const i = w.codes.findIndex((c) => c > 2);
  if (i >= 0) {
    refuse(
      name,
      `element ${i} has code ${w.codes[i]}, which is not a ternary value (-1, 0, +1): the tensor is corrupt. ` +
        `Re-fetch or regenerate the model.`,
    );
  }
}

function checkRows(name: string, w: TernaryWeights, target: GgmlTypeId): void {
  const block = ggmlTypeInfo(target)!.blockSize;
  if (w.rowLength % block !== 0) {
    refuse(
      name,
      `its rows have ${w.rowLength} weights, not a whole number of ${ggmlTypeName(target)}'s ${block}-weight blocks ` +
        `(ggml requires it). Keep ${ggmlTypeName(w.type)}, or convert to a format whose block divides ${w.rowLength}.`,
    );
  }
}

function finite(name: string, what: string, v: number): void {
  if (!Number.isFinite(v)) refuse(name, `its ${what} is ${v}, so its weights are not finite: the tensor is corrupt.`);
}

const F16_ONE = 0x3c00;

/** f16 bits of `x` when `x` is exactly an f16 value, else undefined. */
function exactF16(x: number): number | undefined {
  const h = f32ToF16(x);
  return Object.is(f16ToF32(h), x) ? h : undefined;
}

/** Per target block: 1 when all its weights are zero (code 1). */
function zeroBlocks(codes: Uint8Array, block: number): Uint8Array {
  const nb = codes.length / block;
  const z = new Uint8Array(nb);
  for (let b = 0; b < nb; b++) {
    let zero = 1;
    for (let e = b * block; e < (b + 1) * block; e++) {
      if (codes[e] !== 1) {
        zero = 0;
        break;
      }
    }
    z[b] = zero;
  }
  return z;
}

const fmt = (x: number): string => String(x);

/** A TQ target (TQ1_0 or TQ2_0). */
function tqTarget(name: string, type: GgmlTypeId, fileType: number): ConvertTarget {
  return {
    name,
    type,
    fileType,
    plan(tensor, w) {
      checkCodes(tensor, w);
      checkRows(tensor, w, type);
      if (w.type !== GgmlType.I2_S) {
        return { type, blockD: w.blockD, tensorScale: w.tensorScale, note: `${ggmlTypeName(w.type)} blocks copied` };
      }
      const s = w.i2sScale!;
      finite(tensor, "I2_S scale", s);
      const zero = zeroBlocks(w.codes, ggmlTypeInfo(type)!.blockSize);
      const exact = exactF16(s);
      if (exact !== undefined) {
        return {
          type,
          blockD: Uint16Array.from(zero, (z) => z ? 0 : exact),
          tensorScale: w.tensorScale,
          note: `I2_S scale ${fmt(s)} is an f16 value: stored as every block's d`,
        };
      }
      let scale = s;
      if (w.tensorScale !== undefined) {
        scale = s * w.tensorScale;
        if (Math.fround(scale) !== scale) {
          refuse(
            tensor,
            `its I2_S scale ${fmt(s)} is not an f16 value, so it must move into the .scale tensor, but the product ` +
              `with the existing .scale ${fmt(w.tensorScale)} is not an f32 value. Keep I2_S for this model.`,
          );
        }
      }
      return {
        type,
        blockD: Uint16Array.from(zero, (z) => z ? 0 : F16_ONE),
        tensorScale: scale,
        note: `I2_S scale ${fmt(s)} is not an f16 value: d = 1 and the scale moved to the .scale tensor`,
      };
    },
    encode: (w, shape, plan) => encodeTernary(w.codes, shape, plan),
  };
}

/** The I2_S target (written in the act-parallel packing). */
const I2S_TARGET: ConvertTarget = {
  name: "i2_s",
  type: GgmlType.I2_S,
  // bitnet.cpp's llama.cpp fork: LLAMA_FTYPE_MOSTLY_I2_S = 40 (the official 2B4T file carries it).
  fileType: 40,
  plan(tensor, w) {
    checkCodes(tensor, w);
    checkRows(tensor, w, GgmlType.I2_S);
    if (w.type === GgmlType.I2_S) {
      finite(tensor, "I2_S scale", w.i2sScale!);
      return { type: GgmlType.I2_S, i2sScale: w.i2sScale, tensorScale: w.tensorScale, note: "I2_S repacked" };
    }
    const distinct = new Map<number, number>();
    w.blockD!.forEach((d, b) => {
      if (!w.zeroBlock![b] && !distinct.has(d)) distinct.set(d, b);
    });
    if (distinct.size > 1) {
      const [[d0, b0], [d1, b1]] = [...distinct];
      refuse(
        tensor,
        `its ${ggmlTypeName(w.type)} blocks have ${distinct.size} different scales (d = ${fmt(f16ToF32(d0))} at ` +
          `block ${b0}, ${fmt(f16ToF32(d1))} at block ${b1}), and I2_S keeps one scale per tensor. Keep ` +
          `${ggmlTypeName(w.type)} (or convert to ${
            w.type === GgmlType.TQ2_0 ? "tq1_0" : "tq2_0"
          }, which is lossless).`,
      );
    }
    const bits = distinct.size ? [...distinct.keys()][0] : 0;
    const d = f16ToF32(bits);
    finite(tensor, "block scale d", d);
    if (w.tensorScale !== undefined && bits === F16_ONE) {
      return {
        type: GgmlType.I2_S,
        i2sScale: w.tensorScale,
        note: `d = 1 and .scale ${fmt(w.tensorScale)}: folded into the I2_S scale`,
      };
    }
    return {
      type: GgmlType.I2_S,
      i2sScale: d,
      tensorScale: w.tensorScale,
      note: `every block has d = ${fmt(d)}: the I2_S scale`,
    };
  },
  encode: (w, shape, plan) => encodeTernary(w.codes, shape, plan),
};

/** The built-in targets, by CLI name. llama.h `enum llama_ftype`: MOSTLY_TQ1_0 = 36, MOSTLY_TQ2_0 = 37. */
export const CONVERT_TARGETS: ReadonlyMap<string, ConvertTarget> = new Map([
  ["tq2_0", tqTarget("tq2_0", GgmlType.TQ2_0, 37)],
  ["tq1_0", tqTarget("tq1_0", GgmlType.TQ1_0, 36)],
  ["i2_s", I2S_TARGET],
]);

/**
 * A built-in target by name.
 *
 * @param name `tq2_0`, `tq1_0` or `i2_s` (case-insensitive).
 * @returns The target.
 * @throws {RangeError} For another name; the message lists the valid ones.
 * @example
 * ```ts
 * import { convertTarget } from "./targets.ts";
 * console.log(convertTarget("TQ2_0").fileType); // 37
 * ```
 */
export function convertTarget(name: string): ConvertTarget {
  const t = CONVERT_TARGETS.get(name.toLowerCase());
  if (!t) {
    throw new RangeError(
      `Unknown conversion target "${name}": expected one of ${[...CONVERT_TARGETS.keys()].join(", ")}`,
    );
  }
  return t;
}
