/**
 * What a synthetic model is: presets, the spec that determines every byte of the file, and its canonical
 * text form (used in the lockfile's `generate:` URLs and recorded in the file's metadata).
 *
 * @module
 */

import type { ArchName } from "../model/config.ts";

/** Ternary weight formats the generator writes. */
export type SynthWeightType = "tq2_0" | "tq1_0" | "i2_s";
/** Token-embedding formats the generator writes. */
export type SynthEmbedType = "f16" | "bf16" | "q8_0" | "q6_k";
/** Named shapes. */
export type SynthPreset = "tiny" | "2b4t" | "tiny-llama" | "falcon3-1b-1.58" | "llama3-8b-1.58";

/** Everything that determines a synthetic model's bytes. */
export interface SynthSpec {
  /** Named shape. */
  readonly preset: SynthPreset;
  /**
   * Architecture (`bitnet` runs in stock llama.cpp; `bitnet-b1.58` is 2B4T's relu2 variant; `llama` is the family of
   * Falcon3-1.58bit and Llama3-8B-1.58). Default: the preset's.
   */
  readonly arch: ArchName;
  /** Ternary projection format. */
  readonly type: SynthWeightType;
  /** Token embedding format. */
  readonly embedType: SynthEmbedType;
  /** Untied output: also write `output.weight` (`llama` only). Default: the preset's. */
  readonly untied?: boolean;
  /** Format of `output.weight` when untied; default the embedding's. */
  readonly outputType?: SynthEmbedType;
  /** Write Llama 3's `rope_freqs.weight` (rope scaling factors; `llama` only). */
  readonly ropeFreqs?: boolean;
  /** Random seed (unsigned 32-bit). */
  readonly seed: number;
  /** Path of a GGUF whose tokenizer is reused instead of the built-in vocabulary. */
  readonly vocab?: string;
  /** Overrides of the preset shape. */
  readonly layers?: number;
  /** Hidden size override (multiple of 256). */
  readonly embd?: number;
  /** FFN size override (multiple of 256). */
  readonly ff?: number;
  /** Attention heads override. */
  readonly heads?: number;
  /** KV heads override (GQA when smaller than heads). */
  readonly headsKv?: number;
  /** Training context override. */
  readonly ctx?: number;
  /** Write the optional per-tensor `.scale` tensors. */
  readonly scales?: boolean;
}

/** A preset's shape. */
export interface SynthShape {
  /** Hidden size E. */
  readonly embd: number;
  /** FFN size F. */
  readonly ff: number;
  /** Layers. */
  readonly layers: number;
  /** Heads H. */
  readonly heads: number;
  /** KV heads Hk. */
  readonly headsKv: number;
  /** Training context. */
  readonly ctx: number;
  /** Vocabulary size of the built-in vocabulary (trained merges, then pseudo-words, then 10 special tokens). */
  readonly vocab: number;
  /** RoPE base. */
  readonly ropeBase: number;
  /** RMSNorm epsilon. */
  readonly eps: number;
  /** Architecture of the model the shape is taken from (the spec's default). */
  readonly arch: ArchName;
  /** True when that model has an untied output matrix (the spec's default). */
  readonly untied: boolean;
}

/**
 * Preset shapes, each number from the model's published configuration:
 * - `2b4t`: BitNet b1.58 2B4T (docs/formats.md section 4): 30 layers, 2560 hidden, 6912 FFN, 20 heads / 5 KV heads,
 *   128256 vocab, rope theta 500000, eps 1e-5, 4096 context; tied output.
 * - `falcon3-1b-1.58`: tiiuae/Falcon3-1B-Instruct-1.58bit, whose config.json is tiiuae/Falcon3-1B-Instruct's
 *   (`LlamaForCausalLM`): hidden_size 2048, intermediate_size 8192, num_hidden_layers 18, num_attention_heads 8,
 *   num_key_value_heads 4 (head_dim 256 = 2048 / 8), vocab_size 131072, rope_theta 1000042, rms_norm_eps 1e-6,
 *   max_position_embeddings 8192, rope_scaling null, tie_word_embeddings false. The model card says the same
 *   ("18 decoder blocks", "8 query heads and 4 key-value heads", "head dimension: 256", "RoPE value ... 1000042",
 *   "8K context length", "131K vocab size").
 * - `llama3-8b-1.58`: HF1BitLLM/Llama3-8B-1.58-100B-tokens, fine-tuned from meta-llama/Meta-Llama-3-8B-Instruct
 *   (its model card) and keeping its config: hidden_size 4096, intermediate_size 14336, num_hidden_layers 32,
 *   num_attention_heads 32, num_key_value_heads 8, vocab_size 128256, rope_theta 500000, rms_norm_eps 1e-5,
 *   max_position_embeddings 8192, rope_scaling null (Llama 3, not 3.1: no rope_freqs), tie_word_embeddings false.
 * - `tiny`, `tiny-llama`: small shapes for tests and CI (`tiny-llama`: GQA 4:1, head size 64, Falcon3's rope theta
 *   and eps, untied output).
 */
export const PRESETS: Readonly<Record<SynthPreset, SynthShape>> = {
  tiny: {
    embd: 256,
    ff: 768,
    layers: 4,
    heads: 4,
    headsKv: 2,
    ctx: 2048,
    vocab: 1024,
    ropeBase: 500000,
    eps: 1e-5,
    arch: "bitnet",
    untied: false,
  },
  "2b4t": {
    embd: 2560,
    ff: 6912,
    layers: 30,
    heads: 20,
    headsKv: 5,
    ctx: 4096,
    vocab: 128256,
    ropeBase: 500000,
    eps: 1e-5,
    arch: "bitnet",
    untied: false,
  },
  "tiny-llama": {
    embd: 256,
    ff: 768,
    layers: 3,
    heads: 4,
    headsKv: 1,
    ctx: 2048,
    vocab: 1024,
    ropeBase: 1000042,
    eps: 1e-6,
    arch: "llama",
    untied: true,
  },
  "falcon3-1b-1.58": {
    embd: 2048,
    ff: 8192,
    layers: 18,
    heads: 8,
    headsKv: 4,
    ctx: 8192,
    vocab: 131072,
    ropeBase: 1000042,
    eps: 1e-6,
    arch: "llama",
    untied: true,
  },
  "llama3-8b-1.58": {
    embd: 4096,
    ff: 14336,
    layers: 32,
    heads: 32,
    headsKv: 8,
    ctx: 8192,
    vocab: 128256,
    ropeBase: 500000,
    eps: 1e-5,
    arch: "llama",
    untied: true,
  },
};

const ARCHES: readonly ArchName[] = ["bitnet", "bitnet-b1.58", "llama"];

const WEIGHT_TYPES: readonly SynthWeightType[] = ["tq2_0", "tq1_0", "i2_s"];
const EMBED_TYPES: readonly SynthEmbedType[] = ["f16", "bf16", "q8_0", "q6_k"];

/** The effective shape of a spec (preset plus overrides), validated. */
export function shapeOf(spec: SynthSpec): SynthShape {
  const base = PRESETS[spec.preset];
  if (!base) {
    throw new RangeError(`Unknown preset "${spec.preset}": expected one of ${Object.keys(PRESETS).join(", ")}`);
  }
  const s: SynthShape = {
    ...base,
    embd: spec.embd ?? base.embd,
    ff: spec.ff ?? base.ff,
    layers: spec.layers ?? base.layers,
    heads: spec.heads ?? base.heads,
    headsKv: spec.headsKv ?? spec.heads ?? base.headsKv,
    ctx: spec.ctx ?? base.ctx,
  };
  const block = spec.type === "i2_s" ? 128 : 256;
  const checks: [boolean, string][] = [
    [
      s.embd > 0 && s.embd % block === 0,
      `hidden size ${s.embd} must be a positive multiple of ${block} for ${spec.type}`,
    ],
    [s.ff > 0 && s.ff % block === 0, `FFN size ${s.ff} must be a positive multiple of ${block} for ${spec.type}`],
    [s.layers > 0 && s.layers <= 256, `layer count ${s.layers} must be in 1..256`],
    [s.heads > 0 && s.embd % s.heads === 0, `hidden size ${s.embd} must be divisible by the head count ${s.heads}`],
    [(s.embd / s.heads) % 2 === 0, `head dimension ${s.embd / s.heads} must be even (RoPE pairs)`],
    [
      s.headsKv > 0 && s.heads % s.headsKv === 0,
      `head count ${s.heads} must be a multiple of the KV head count ${s.headsKv}`,
    ],
    [s.ctx >= 16, `context ${s.ctx} must be at least 16`],
  ];
  for (const [ok, msg] of checks) if (!ok) throw new RangeError(`Cannot generate the model: ${msg}`);
  return s;
}

/**
 * Fill defaults and validate a partial spec.
 *
 * @param partial Fields given by the user; `preset` defaults to tiny, `arch` and `untied` to the preset's
 *   (bitnet and tied, llama and untied for the llama presets), `type` to tq2_0,
 *   `embedType` to f16, `seed` to 1.
 * @returns A complete spec.
 * @throws {RangeError} For unknown values or impossible shapes.
 */
export function normalizeSpec(partial: Partial<SynthSpec>): SynthSpec {
  const spec: SynthSpec = {
    preset: partial.preset ?? "tiny",
    arch: partial.arch ?? PRESETS[partial.preset ?? "tiny"]?.arch ?? "bitnet",
    type: partial.type ?? "tq2_0",
    embedType: partial.embedType ?? "f16",
    seed: partial.seed ?? 1,
    ...(partial.vocab !== undefined ? { vocab: partial.vocab } : {}),
    ...(partial.layers !== undefined ? { layers: partial.layers } : {}),
    ...(partial.embd !== undefined ? { embd: partial.embd } : {}),
    ...(partial.ff !== undefined ? { ff: partial.ff } : {}),
    ...(partial.heads !== undefined ? { heads: partial.heads } : {}),
    ...(partial.headsKv !== undefined ? { headsKv: partial.headsKv } : {}),
    ...(partial.ctx !== undefined ? { ctx: partial.ctx } : {}),
    ...(partial.scales ? { scales: true } : {}),
  };
  if (!ARCHES.includes(spec.arch)) {
    throw new RangeError(`Unknown architecture "${spec.arch}": expected one of ${ARCHES.join(", ")}`);
  }
  // Untied output, its own format and rope_freqs are llama's; a preset's untied default applies to llama only.
  const untied = partial.untied ?? (spec.arch === "llama" && PRESETS[spec.preset]?.untied === true);
  if (untied || partial.outputType !== undefined || partial.ropeFreqs) {
    if (spec.arch !== "llama") {
      throw new RangeError(`Cannot generate a ${spec.arch} model with untied output or rope_freqs: they are llama's`);
    }
  }
  if (partial.outputType !== undefined && !untied) {
    throw new RangeError(`Cannot set the output type of a tied model: pass untied too`);
  }
  if (partial.outputType !== undefined && !EMBED_TYPES.includes(partial.outputType)) {
    throw new RangeError(`Unknown output type "${partial.outputType}": expected one of ${EMBED_TYPES.join(", ")}`);
  }
  if (spec.arch === "llama" && spec.scales) {
    throw new RangeError("Cannot generate a llama model with .scale tensors: llama.cpp's llama graph has none");
  }
  Object.assign(spec, {
    ...(spec.arch === "llama" ? { untied } : {}),
    ...(partial.outputType !== undefined ? { outputType: partial.outputType } : {}),
    ...(partial.ropeFreqs ? { ropeFreqs: true } : {}),
  });
  if (!WEIGHT_TYPES.includes(spec.type)) {
    throw new RangeError(`Unknown weight type "${spec.type}": expected one of ${WEIGHT_TYPES.join(", ")}`);
  }
  if (!EMBED_TYPES.includes(spec.embedType)) {
    throw new RangeError(`Unknown embedding type "${spec.embedType}": expected one of ${EMBED_TYPES.join(", ")}`);
  }
  if (!Number.isInteger(spec.seed) || spec.seed < 0 || spec.seed > 0xffffffff) {
    throw new RangeError(`Invalid seed ${spec.seed}: expected an integer in 0..4294967295`);
  }
  shapeOf(spec);
  return spec;
}

const QUERY_KEYS: ReadonlyArray<readonly [keyof SynthSpec, string]> = [
  ["preset", "preset"],
  ["arch", "arch"],
  ["type", "type"],
  ["embedType", "embed-type"],
  ["seed", "seed"],
  ["layers", "layers"],
  ["embd", "embd"],
  ["ff", "ff"],
  ["heads", "heads"],
  ["headsKv", "heads-kv"],
  ["ctx", "ctx"],
  ["scales", "scales"],
  ["untied", "untied"],
  ["outputType", "output-type"],
  ["ropeFreqs", "rope-freqs"],
];

/**
 * Canonical text form of a spec, in the CLI's flag names: `preset=tiny&arch=bitnet&type=tq2_0&embed-type=f16&seed=1`.
 * A spec with `vocab` has no canonical form (the vocabulary file is outside the spec).
 */
export function specToQuery(spec: SynthSpec): string {
  const parts: string[] = [];
  for (const [key, name] of QUERY_KEYS) {
    const v = spec[key];
    // A llama spec always says whether it is untied (its presets default to untied, so omitting false would lie).
    if (key === "untied" && v === false) {
      parts.push(`${name}=0`);
      continue;
    }
    if (v === undefined || v === false) continue;
    parts.push(`${name}=${v === true ? "1" : String(v)}`);
  }
  return parts.join("&");
}

/**
 * Parse the canonical text form (also accepts any order and omitted defaults).
 *
 * @param query `key=value` pairs joined by `&`.
 * @returns The normalized spec.
 * @throws {SyntaxError} For an unknown key or a non-numeric number.
 */
export function specFromQuery(query: string): SynthSpec {
  const partial: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(query)) {
    const entry = QUERY_KEYS.find(([, name]) => name === k);
    if (!entry) {
      throw new SyntaxError(
        `Cannot parse model spec "${query}": unknown key "${k}". Use only ${QUERY_KEYS.map(([, n]) => n).join(", ")}`,
      );
    }
    const key = entry[0];
    if (key === "preset" || key === "arch" || key === "type" || key === "embedType" || key === "outputType") {
      partial[key] = v;
    } else if (key === "scales" || key === "untied" || key === "ropeFreqs") partial[key] = v === "1" || v === "true";
    else {
      const n = Number(v);
      if (!Number.isInteger(n)) {
        throw new SyntaxError(
          `Cannot parse model spec "${query}": ${k}=${v} is not an integer. Give ${k} a whole number`,
        );
      }
      partial[key] = n;
    }
  }
  return normalizeSpec(partial as Partial<SynthSpec>);
}
