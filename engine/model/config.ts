/**
 * BitNet hyperparameters read from GGUF metadata, interpreted as llama.cpp does
 * (`src/llama-model.cpp` generic loader + `src/models/bitnet.cpp`).
 *
 * Dimension letters used across `engine/model/`: E = n_embd, F = n_ff, H = n_head, Hk = n_head_kv,
 * D = head_dim, V = n_vocab, T = tokens in a batch.
 *
 * @module
 */

import type { GgufFile } from "../gguf/file.ts";
import { GgmlType, ggmlTypeName } from "../quant/ggml_type.ts";

/** Architectures the engine runs. */
export type BitnetArch = "bitnet" | "bitnet-b1.58";

/** FFN gate activation: llama.cpp's `bitnet` graph hard-codes SiLU; BitNet b1.58 2B4T uses squared ReLU. */
export type FfnActivation = "silu" | "relu2";

/** Hyperparameters of a BitNet model. */
export interface BitnetConfig {
  /** `general.architecture`. */
  readonly arch: BitnetArch;
  /** V: vocabulary size (length of `tokenizer.ggml.tokens`, as llama.cpp counts it). */
  readonly nVocab: number;
  /** Training context length. */
  readonly nCtxTrain: number;
  /** E: hidden size. */
  readonly nEmbd: number;
  /** Number of transformer blocks. */
  readonly nLayer: number;
  /** F: FFN size. */
  readonly nFf: number;
  /** H: attention heads. */
  readonly nHead: number;
  /** Hk: key/value heads (GQA when < H). */
  readonly nHeadKv: number;
  /** D: head dimension (E / H). */
  readonly headDim: number;
  /** Rotated dimensions per head (`rope.dimension_count`, default D). */
  readonly nRot: number;
  /** RoPE base frequency (default 10000, as llama.cpp). */
  readonly ropeFreqBase: number;
  /** RoPE frequency scale (1 / linear scaling factor). */
  readonly ropeFreqScale: number;
  /** RMSNorm epsilon, shared by all norms. */
  readonly rmsEps: number;
  /** FFN activation implied by the architecture. */
  readonly activation: FfnActivation;
}

/** The metadata key prefix of an architecture (`bitnet.`, `bitnet-b1.58.`). */
export function archPrefix(arch: string): string {
  return `${arch}.`;
}

/** Activation each architecture uses (docs/formats.md sections 1 and 4). */
export function activationOf(arch: BitnetArch): FfnActivation {
  return arch === "bitnet" ? "silu" : "relu2";
}

/** True for architectures this engine implements. */
export function isBitnetArch(arch: string): arch is BitnetArch {
  return arch === "bitnet" || arch === "bitnet-b1.58";
}

/**
 * Read a {@link BitnetConfig} from a GGUF file.
 *
 * @param file An open GGUF file.
 * @returns The hyperparameters.
 * @throws {RangeError} When the architecture is not a BitNet one, a required key is missing, or the shapes are
 *   inconsistent (e.g. E not divisible by H); the message names the key.
 * @example
 * ```ts
 * import { GgufFile } from "../gguf/file.ts";
 * import { configFromGguf } from "./config.ts";
 * // using f = GgufFile.open("model.gguf");
 * // console.log(configFromGguf(f).nLayer);
 * ```
 */
export function configFromGguf(file: GgufFile): BitnetConfig {
  const arch = file.architecture;
  if (!isBitnetArch(arch)) {
    throw new RangeError(
      `Cannot run "${file.path}": architecture "${
        arch || "(none)"
      }" is not supported; expected "bitnet" or "bitnet-b1.58"`,
    );
  }
  const p = archPrefix(arch);
  const need = (key: string): number => {
    const v = file.getNumber(p + key);
    if (v === undefined) {
      throw new RangeError(`Cannot read hyperparameters of "${file.path}": missing key "${p}${key}"`);
    }
    return v;
  };
  const opt = (key: string, dflt: number): number => file.getNumber(p + key) ?? dflt;
  const nEmbd = need("embedding_length");
  const nHead = need("attention.head_count");
  const nHeadKv = opt("attention.head_count_kv", nHead);
  if (nHead <= 0 || nEmbd % nHead !== 0) {
    throw new RangeError(
      `Cannot read hyperparameters of "${file.path}": embedding_length ${nEmbd} is not divisible by head_count ${nHead}`,
    );
  }
  if (nHeadKv <= 0 || nHead % nHeadKv !== 0) {
    throw new RangeError(
      `Cannot read hyperparameters of "${file.path}": head_count ${nHead} is not a multiple of head_count_kv ${nHeadKv}`,
    );
  }
  const headDim = nEmbd / nHead;
  const tokens = file.getArray("tokenizer.ggml.tokens");
  const nVocab = tokens ? tokens.items.length : opt("vocab_size", 0);
  if (nVocab <= 0) {
    throw new RangeError(`Cannot read hyperparameters of "${file.path}": no tokenizer.ggml.tokens and no vocab_size`);
  }
  // llama.cpp: freq_scale = 1/factor for linear scaling; a missing or zero factor means 1.
  const factor = opt("rope.scaling.factor", 0);
  const nRot = opt("rope.dimension_count", headDim);
  if (nRot % 2 !== 0 || nRot > headDim) {
    throw new RangeError(
      `Cannot read hyperparameters of "${file.path}": rope.dimension_count ${nRot} must be even and <= ${headDim}`,
    );
  }
  return {
    arch,
    nVocab,
    nCtxTrain: need("context_length"),
    nEmbd,
    nLayer: need("block_count"),
    nFf: need("feed_forward_length"),
    nHead,
    nHeadKv,
    headDim,
    nRot,
    ropeFreqBase: opt("rope.freq_base", 10000),
    ropeFreqScale: factor ? 1 / factor : 1,
    rmsEps: need("attention.layer_norm_rms_epsilon"),
    activation: activationOf(arch),
  };
}

/** Weight types the engine accepts for the ternary projections. */
export const TERNARY_TYPES: readonly number[] = [GgmlType.TQ2_0, GgmlType.TQ1_0, GgmlType.I2_S];
/** Types the engine accepts for the (tied) token embedding. */
export const EMBEDDING_TYPES: readonly number[] = [
  GgmlType.F16,
  GgmlType.BF16,
  GgmlType.Q8_0,
  GgmlType.Q6_K,
  GgmlType.F32,
];

/** Human list of type names, for messages. */
export function typeNames(types: readonly number[]): string {
  return types.map(ggmlTypeName).join(", ");
}
