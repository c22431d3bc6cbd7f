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
export type SynthPreset = "tiny" | "2b4t";

/** Everything that determines a synthetic model's bytes. */
export interface SynthSpec {
  /** Named shape. */
  readonly preset: SynthPreset;
  /** Architecture (`bitnet` runs in stock llama.cpp; `bitnet-b1.58` is 2B4T's relu2 variant). */
  readonly arch: ArchName;
  /** Ternary projection format. */
  readonly type: SynthWeightType;
  /** Token embedding (tied output) format. */
  readonly embedType: SynthEmbedType;
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
}

/**
 * Preset shapes. `2b4t` is BitNet b1.58 2B4T's exact shape (docs/formats.md section 4):
 * 30 layers, 2560 hidden, 6912 FFN, 20 heads / 5 KV heads, 128256 vocab, rope theta 500000, eps 1e-5, 4096 context.
 */
export const PRESETS: Readonly<Record<SynthPreset, SynthShape>> = {
  tiny: { embd: 256, ff: 768, layers: 4, heads: 4, headsKv: 2, ctx: 2048, vocab: 1024, ropeBase: 500000, eps: 1e-5 },
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
  },
};

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
 * @param partial Fields given by the user; `preset` defaults to tiny, `arch` to bitnet, `type` to tq2_0,
 *   `embedType` to f16, `seed` to 1.
 * @returns A complete spec.
 * @throws {RangeError} For unknown values or impossible shapes.
 */
export function normalizeSpec(partial: Partial<SynthSpec>): SynthSpec {
  const spec: SynthSpec = {
    preset: partial.preset ?? "tiny",
    arch: partial.arch ?? "bitnet",
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
  if (spec.arch !== "bitnet" && spec.arch !== "bitnet-b1.58") {
    throw new RangeError(`Unknown architecture "${spec.arch}": expected bitnet or bitnet-b1.58`);
  }
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
];

/**
 * Canonical text form of a spec, in the CLI's flag names: `preset=tiny&arch=bitnet&type=tq2_0&embed-type=f16&seed=1`.
 * A spec with `vocab` has no canonical form (the vocabulary file is outside the spec).
 */
export function specToQuery(spec: SynthSpec): string {
  const parts: string[] = [];
  for (const [key, name] of QUERY_KEYS) {
    const v = spec[key];
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
    if (key === "preset" || key === "arch" || key === "type" || key === "embedType") partial[key] = v;
    else if (key === "scales") partial[key] = v === "1" || v === "true";
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
