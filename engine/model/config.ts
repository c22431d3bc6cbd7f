/**
 * Hyperparameters: the {@link ModelConfig} every architecture fills, and {@link readHparams}, the GGUF keys all
 * decoder architectures share, read as llama.cpp's generic loader reads them (`src/llama-model.cpp`
 * `llama_model_base::load_hparams`, `src/llama-context.cpp` for the RoPE scaling in effect). Each architecture file
 * (`bitnet.ts`, `llama.ts`) adds what is its own (activation, RoPE pairing, attention scale, checks).
 *
 * Dimension letters used across `engine/model/`: E = n_embd, F = n_ff, H = n_head, Hk = n_head_kv,
 * D = head_dim, R = n_rot, V = n_vocab, T = tokens in a batch.
 *
 * @module
 */

import type { GgufFile } from "../gguf/file.ts";
import { ggmlTypeName } from "../quant/ggml_type.ts";

/** Architectures the engine runs (`general.architecture`). */
export type ArchName = "bitnet" | "bitnet-b1.58" | "llama";

/** FFN gate activation: SiLU (`bitnet`, `llama`) or squared ReLU (BitNet b1.58 2B4T's `bitnet-b1.58`). */
export type FfnActivation = "silu" | "relu2";

/** RoPE pairing: NEOX `(i, i + R/2)` (`bitnet`) or NORM `(2i, 2i + 1)` (`llama`; llama.cpp `llama_model_rope_type`). */
export type RopeType = "neox" | "norm";

/** Hyperparameters of a model, as its forward pass needs them. */
export interface ModelConfig {
  /** `general.architecture`. */
  readonly arch: ArchName;
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
  /** D: head dimension (`attention.key_length`, default E / H). */
  readonly headDim: number;
  /** Rotated dimensions per head (`rope.dimension_count`, default D). */
  readonly nRot: number;
  /** RoPE pairing of the architecture. */
  readonly ropeType: RopeType;
  /** RoPE base frequency (default 10000, as llama.cpp). */
  readonly ropeFreqBase: number;
  /** RoPE frequency scale (1 / linear scaling factor; 1 for scaling type `none`). */
  readonly ropeFreqScale: number;
  /** Multiplier of the RoPE cosines and sines (`rope.scaling.attn_factor`, default 1: llama.cpp's mscale). */
  readonly ropeAttnFactor: number;
  /** Attention scale applied to `q·k` (f32): `1/sqrtf(D)` unless the architecture reads `attention.scale`. */
  readonly attnScale: number;
  /** RMSNorm epsilon, shared by all norms. */
  readonly rmsEps: number;
  /** FFN activation of the architecture. */
  readonly activation: FfnActivation;
}

/** The keys every decoder architecture shares, as llama.cpp's generic loader interprets them. */
export type CommonHparams = Omit<ModelConfig, "arch" | "ropeType" | "attnScale" | "activation"> & {
  /** `attention.scale`, 0 when absent (llama.cpp's `f_attention_scale`). */
  readonly attentionScaleKey: number;
};

/**
 * Read the shared hyperparameter keys `<arch>.*` of a GGUF file.
 *
 * @param file An open GGUF file.
 * @param arch Its architecture (the key prefix).
 * @returns The shared hyperparameters.
 * @throws {RangeError} When a required key is missing or the shapes are inconsistent (the message names the key).
 * @example
 * ```ts
 * import { GgufFile } from "../gguf/file.ts";
 * import { writeSyntheticModel } from "../synth/write.ts";
 * import { readHparams } from "./config.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * using f = GgufFile.open(path);
 * console.log(readHparams(f, "bitnet").nLayer); // 4
 * ```
 */
export function readHparams(file: GgufFile, arch: ArchName): CommonHparams {
  const p = `${arch}.`;
  const where = `Cannot read hyperparameters of "${file.path}"`;
  const need = (key: string): number => {
    const v = file.getNumber(p + key);
    if (v === undefined) throw new RangeError(`${where}: missing key "${p}${key}"`);
    return v;
  };
  const opt = (key: string, dflt: number): number => file.getNumber(p + key) ?? dflt;
  const nEmbd = need("embedding_length");
  const nHead = need("attention.head_count");
  const nHeadKv = opt("attention.head_count_kv", nHead);
  if (nHead <= 0 || (file.getNumber(`${p}attention.key_length`) === undefined && nEmbd % nHead !== 0)) {
    throw new RangeError(`${where}: embedding_length ${nEmbd} is not divisible by head_count ${nHead}`);
  }
  if (nHeadKv <= 0 || nHead % nHeadKv !== 0) {
    throw new RangeError(`${where}: head_count ${nHead} is not a multiple of head_count_kv ${nHeadKv}`);
  }
  // llama.cpp: n_embd_head_k = n_embd / n_head unless attention.key_length says otherwise; V heads likewise.
  const headDim = opt("attention.key_length", nEmbd / nHead);
  const headDimV = opt("attention.value_length", nEmbd / nHead);
  if (headDimV !== headDim) {
    throw new RangeError(`${where}: attention.value_length ${headDimV} differs from key_length ${headDim}`);
  }
  const tokens = file.getArray("tokenizer.ggml.tokens");
  const nVocab = tokens ? tokens.items.length : opt("vocab_size", 0);
  if (nVocab <= 0) throw new RangeError(`${where}: no tokenizer.ggml.tokens and no vocab_size`);
  const nRot = opt("rope.dimension_count", headDim);
  if (nRot % 2 !== 0 || nRot > headDim) {
    throw new RangeError(`${where}: rope.dimension_count ${nRot} must be even and <= ${headDim}`);
  }
  // llama.cpp: rope.scaling.type defaults to "linear"; freq_scale = 1/factor (rope.scaling.factor, or the old
  // rope.scale_linear), 1 when the factor is missing or zero, and 1 whatever the factor for type "none".
  const scaling = file.getString(`${p}rope.scaling.type`) ?? "linear";
  if (scaling !== "linear" && scaling !== "none") {
    throw new RangeError(
      `${where}: rope.scaling.type "${scaling}" is not supported (linear and none are); YaRN and LongRoPE ` +
        `models need a RoPE table this engine does not build`,
    );
  }
  const factor = file.getNumber(`${p}rope.scaling.factor`) ?? opt("rope.scale_linear", 0);
  return {
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
    ropeFreqScale: scaling === "none" || !factor ? 1 : Math.fround(1 / factor),
    ropeAttnFactor: opt("rope.scaling.attn_factor", 1),
    rmsEps: need("attention.layer_norm_rms_epsilon"),
    attentionScaleKey: opt("attention.scale", 0),
  };
}

/** `1.0f/sqrtf(float(n_embd_head))` in f32, the attention scale of llama.cpp's decoder graphs. */
export function defaultAttnScale(headDim: number): number {
  return Math.fround(1 / Math.fround(Math.sqrt(headDim)));
}

/** Human list of type names, for messages. */
export function typeNames(types: readonly number[]): string {
  return types.map(ggmlTypeName).join(", ");
}
