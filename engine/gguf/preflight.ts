/**
 * Pre-flight validation of a GGUF header: metadata values that the format allows but that make a loader abort,
 * loop or allocate without bound, found before any native call. llama.cpp asserts on many of them instead of
 * returning an error (`GGML_ASSERT(eps >= 0.0f)` in `ggml/src/ggml-cpu/ops.cpp`, `n_layer_all > 0` in
 * `src/llama-model.cpp`, `id_to_token.size() == token_to_id.size()` in `src/llama-vocab.cpp`, the 32-byte buffer
 * alignment in `ggml/src/ggml-backend.cpp`), which ends the process that called it.
 *
 * Pure and generic: it reads keys by the `general.architecture` prefix with llama.cpp's standard key and tensor
 * names (`src/llama-arch.cpp`), so it knows no architecture's code. Each problem names the key and its value.
 *
 * @module
 */

import { type GgufArray, type GgufHeader, type GgufKv, GgufValueType } from "./types.ts";

/** What kind of problem a value has. */
export type PreflightCode =
  | "missing"
  | "wrong_type"
  | "not_finite"
  | "negative"
  | "zero"
  | "out_of_range"
  | "inconsistent"
  | "misaligned"
  | "duplicate_token"
  | "invalid_vocab";

/** One problem: the key (or tensor), its value as text, and a sentence. */
export interface PreflightProblem {
  /** Metadata key, or the tensor name for shape and alignment problems. */
  readonly key: string;
  /** The offending value as written in the file, rendered as text. */
  readonly value: string;
  /** Kind. */
  readonly code: PreflightCode;
  /** `"<key>" = <value>: <why it is refused>`. */
  readonly message: string;
  /**
   * The key is a count or size (`block_count`, `embedding_length`, ...) and its value is not an integer in
   * 0..2^31 - 1: a loader that allocates by it would loop or allocate without bound (for our engine too).
   */
  readonly unusableSize: boolean;
}

/** A model file whose metadata fails pre-flight: nothing native was called. */
export class InvalidModelError extends Error {
  /** Every problem found. */
  readonly problems: readonly PreflightProblem[];
  /** The file. */
  readonly path: string;

  /**
   * Creates the error with {@link preflightMessage}'s text.
   *
   * @param path The file.
   * @param problems The problems (at least one).
   */
  constructor(path: string, problems: readonly PreflightProblem[]) {
    super(preflightMessage(path, problems));
    this.name = "InvalidModelError";
    this.problems = problems;
    this.path = path;
  }
}

/** ggml's `TENSOR_ALIGNMENT` (`ggml/src/ggml-impl.h`): mapped tensor data must start on this boundary. */
export const TENSOR_ALIGNMENT = 32;
/** llama.cpp's `LLAMA_MAX_LAYERS` (`src/llama-hparams.h`). */
export const MAX_LAYERS = 512;
/** Largest value accepted for a count or size: llama.cpp computes with `int32_t` in many places. */
const INT32_MAX = 2 ** 31 - 1;
/** Largest tensor dimension considered plausible for a hidden, FFN or head size (Llama 3.1 405B: 53248). */
const MAX_DIM = 1 << 20;

/** Integer hparams (suffixes after `<arch>.`) that are counts or sizes: > 0 when present. */
const POSITIVE_INTS = [
  "context_length",
  "embedding_length",
  "block_count",
  "feed_forward_length",
  "attention.head_count",
  "vocab_size",
  "rope.dimension_count",
  "attention.key_length",
  "attention.value_length",
];
/** Integer hparams that may be 0 (absent feature) but never negative. */
const NON_NEGATIVE_INTS = ["attention.head_count_kv", "expert_count", "expert_used_count", "attention.sliding_window"];
/** Float hparams that must be finite and > 0. */
const POSITIVE_FLOATS = ["attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon", "rope.freq_base"];
/** Keys whose value is required by every transformer llama.cpp loads (`llm_load_hparams`). */
const REQUIRED_INTS = ["context_length", "embedding_length", "block_count"];

/**
 * Keys outside the architecture's prefix whose type llama.cpp (`GGUFMeta`, `src/llama-model-loader.cpp`) and our
 * loaders both insist on: any other type is refused by each of them, with different messages.
 */
const EXACT_TYPES: Readonly<Record<string, number>> = {
  "general.name": GgufValueType.STRING,
  "general.file_type": GgufValueType.UINT32,
  "general.quantization_version": GgufValueType.UINT32,
  "tokenizer.ggml.model": GgufValueType.STRING,
  "tokenizer.ggml.pre": GgufValueType.STRING,
  "tokenizer.ggml.add_bos_token": GgufValueType.BOOL,
  "tokenizer.ggml.add_eos_token": GgufValueType.BOOL,
  "tokenizer.ggml.add_space_prefix": GgufValueType.BOOL,
};

/** `tokenizer.ggml.model` values llama.cpp v0.5.0 knows (`llama_vocab::impl::load`). */
const TOKENIZER_MODELS = [
  "no_vocab",
  "none",
  "llama",
  "bert",
  "gpt2",
  "hybriddna",
  "whitespace",
  "t5",
  "rwkv",
  "test",
  "plamo2",
  "gemma4",
];
/** `enum llama_token_type`: 0 undefined .. 6 byte (`include/llama.h`). */
const MAX_TOKEN_TYPE = 6;

const INT_TYPES: readonly number[] = [
  GgufValueType.UINT8,
  GgufValueType.INT8,
  GgufValueType.UINT16,
  GgufValueType.INT16,
  GgufValueType.UINT32,
  GgufValueType.INT32,
  GgufValueType.UINT64,
  GgufValueType.INT64,
];
const FLOAT_TYPES: readonly number[] = [GgufValueType.FLOAT32, GgufValueType.FLOAT64];
const TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(GgufValueType).map(([k, v]) => [v, k.toLowerCase()]),
);

/** A value as a person reads it: NaN, -1, 4294967295, "text", [array of 1024 string]. */
function show(kv: GgufKv): string {
  const v = kv.value;
  if (typeof v === "string") return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
  if (typeof v === "object") return `[array of ${v.items.length} ${TYPE_NAMES[v.itemType] ?? "?"}]`;
  // A float32 as the shortest decimal that reads back to it (1e-5, not 0.000009999999747378752).
  if (kv.type === GgufValueType.FLOAT32 && typeof v === "number" && Number.isFinite(v)) {
    for (let digits = 1; digits <= 9; digits++) {
      const s = String(Number(v.toPrecision(digits)));
      if (Math.fround(Number(s)) === v) return s;
    }
  }
  return String(v);
}

function numberOf(v: GgufKv["value"]): number {
  return typeof v === "bigint" ? Number(v) : typeof v === "number" ? v : NaN;
}

/**
 * Check a GGUF header before anything native sees the file.
 *
 * @param header The parsed header (`GgufFile.header`).
 * @returns Every problem found, in file order of the keys; empty when the metadata is sound.
 * @example
 * ```ts
 * import { bytesSource, encodeGguf, GgufValueType, parseGgufHeader } from "./mod.ts";
 * import { preflightGguf } from "./preflight.ts";
 * const bytes = encodeGguf({
 *   metadata: [
 *     ["general.architecture", { type: GgufValueType.STRING, value: "bitnet" }],
 *     ["bitnet.attention.layer_norm_rms_epsilon", { type: GgufValueType.FLOAT32, value: NaN }],
 *   ],
 *   tensors: [],
 * });
 * const problems = preflightGguf(parseGgufHeader(bytesSource(bytes)));
 * console.log(problems.map((p) => p.message));
 * ```
 */
export function preflightGguf(header: GgufHeader): PreflightProblem[] {
  const out: PreflightProblem[] = [];
  const meta = header.metadata;
  const archKv = meta.get("general.architecture");
  const sizeKeys = new Set(
    [...POSITIVE_INTS, ...NON_NEGATIVE_INTS].map((k) =>
      `${typeof archKv?.value === "string" ? archKv.value : ""}.${k}`
    ),
  );
  const add = (key: string, value: string, code: PreflightCode, why: string) =>
    out.push({
      key,
      value,
      code,
      message: `"${key}" = ${value}: ${why}`,
      unusableSize: sizeKeys.has(key) && ["wrong_type", "not_finite", "negative", "out_of_range"].includes(code),
    });

  if (!archKv) {
    add("general.architecture", "(absent)", "missing", "every model names its architecture; llama.cpp refuses it");
  } else if (archKv.type !== GgufValueType.STRING || archKv.value === "") {
    add("general.architecture", show(archKv), "wrong_type", "must be a non-empty string");
  }
  const arch = archKv && typeof archKv.value === "string" ? archKv.value : "";
  const p = `${arch}.`;

  for (const [key, type] of Object.entries(EXACT_TYPES)) {
    const kv = meta.get(key);
    if (kv && kv.type !== type) {
      add(key, show(kv), "wrong_type", `must be a ${TYPE_NAMES[type]}, found ${TYPE_NAMES[kv.type] ?? kv.type}`);
    }
  }

  // 1. Numbers under the architecture's prefix: types, finiteness, signs, ranges.
  const ints = new Map<string, number[]>();
  for (const [key, kv] of meta) {
    if (!arch || !key.startsWith(p)) continue;
    const suffix = key.slice(p.length);
    const wantInt = POSITIVE_INTS.includes(suffix) || NON_NEGATIVE_INTS.includes(suffix);
    const wantFloat = POSITIVE_FLOATS.includes(suffix);
    const values: { v: number; type: number }[] = kv.type === GgufValueType.ARRAY
      ? arrayNumbers(kv.value as GgufArray)
      : [{ v: numberOf(kv.value), type: kv.type }];
    if (wantInt || wantFloat) {
      // llama.cpp reads float hparams as GGUF float32 only (GGUFMeta checks the type exactly).
      const ok = wantInt ? INT_TYPES : [GgufValueType.FLOAT32];
      const bad = values.length === 0 || values.some((x) => !ok.includes(x.type));
      if (bad) {
        add(
          key,
          show(kv),
          "wrong_type",
          `must be ${wantInt ? "an integer" : "a float32"}${
            wantInt && kv.type === GgufValueType.ARRAY ? " or an array of integers" : ""
          }, ` +
            `found ${TYPE_NAMES[kv.type] ?? kv.type}${
              kv.type === GgufValueType.ARRAY ? ` of ${TYPE_NAMES[(kv.value as GgufArray).itemType]}` : ""
            }`,
        );
        continue;
      }
    }
    const isNumeric = values.length > 0 &&
      values.every((x) => INT_TYPES.includes(x.type) || FLOAT_TYPES.includes(x.type));
    if (!isNumeric) continue;
    const text = kv.type === GgufValueType.ARRAY ? (x: number) => `${show(kv)} containing ${x}` : () => show(kv);
    const bad = values.find((x) => !Number.isFinite(x.v));
    if (bad) {
      add(key, text(bad.v), "not_finite", "must be a finite number");
      continue;
    }
    const neg = values.find((x) => x.v < 0);
    if (neg && (wantInt || wantFloat || INT_TYPES.includes(neg.type))) {
      add(key, text(neg.v), "negative", "must not be negative");
      continue;
    }
    if (INT_TYPES.includes(values[0].type)) {
      const big = values.find((x) => x.v > INT32_MAX);
      if (big) {
        add(key, text(big.v), "out_of_range", `exceeds ${INT32_MAX}, beyond what llama.cpp computes with`);
        continue;
      }
    }
    if (POSITIVE_INTS.includes(suffix) || POSITIVE_FLOATS.includes(suffix)) {
      const scalarZero = kv.type !== GgufValueType.ARRAY && values[0].v === 0;
      const allZero = values.every((x) => x.v === 0);
      if (scalarZero || allZero) {
        add(key, show(kv), "zero", "must be greater than 0");
        continue;
      }
    }
    if (wantInt) ints.set(suffix, values.map((x) => x.v));
  }
  if (arch && header.tensors.length > 0) {
    for (const k of REQUIRED_INTS) {
      if (!meta.has(p + k)) {
        add(p + k, "(absent)", "missing", "required by llama.cpp for every model with weights");
      }
    }
  }
  const scalar = (suffix: string): number | undefined => {
    const v = ints.get(suffix);
    return v && v.length === 1 ? v[0] : undefined;
  };
  const maxOf = (suffix: string): number | undefined => {
    const v = ints.get(suffix);
    return v && v.length ? Math.max(...v) : undefined;
  };

  const nLayer = scalar("block_count");
  if (nLayer !== undefined && nLayer > MAX_LAYERS) {
    add(p + "block_count", String(nLayer), "out_of_range", `exceeds llama.cpp's LLAMA_MAX_LAYERS (${MAX_LAYERS})`);
  }
  for (const suffix of ["embedding_length", "feed_forward_length", "attention.key_length", "attention.value_length"]) {
    const v = maxOf(suffix);
    if (v !== undefined && v > MAX_DIM) add(p + suffix, String(v), "out_of_range", `exceeds ${MAX_DIM}`);
  }

  // 2. Consistency between hparams, and with the tensors' shapes.
  const nEmbd = scalar("embedding_length");
  const nHead = scalar("attention.head_count");
  const nHeadKv = scalar("attention.head_count_kv") ?? nHead;
  const keyLength = scalar("attention.key_length");
  if (nEmbd !== undefined && nHead !== undefined && nHead > 0 && keyLength === undefined && nEmbd % nHead !== 0) {
    add(
      p + "attention.head_count",
      String(nHead),
      "inconsistent",
      `does not divide ${p}embedding_length = ${nEmbd} (the head size would not be an integer)`,
    );
  }
  if (nHead !== undefined && nHeadKv !== undefined && nHeadKv > 0 && nHead % nHeadKv !== 0) {
    add(
      p + "attention.head_count_kv",
      String(nHeadKv),
      "inconsistent",
      `does not divide ${p}attention.head_count = ${nHead}`,
    );
  }
  if (nHead !== undefined && nHeadKv !== undefined && nHeadKv > nHead) {
    add(p + "attention.head_count_kv", String(nHeadKv), "inconsistent", `exceeds ${p}attention.head_count = ${nHead}`);
  }
  const headDim = keyLength ?? (nEmbd !== undefined && nHead ? nEmbd / nHead : undefined);
  const nRot = scalar("rope.dimension_count");
  if (nRot !== undefined && headDim !== undefined && Number.isInteger(headDim) && (nRot > headDim || nRot % 2)) {
    add(p + "rope.dimension_count", String(nRot), "inconsistent", `must be even and at most the head size ${headDim}`);
  }
  const tensors = new Map(header.tensors.map((t) => [t.name, t]));
  const tokensKv = meta.get("tokenizer.ggml.tokens");
  const nTokens = tokensKv?.type === GgufValueType.ARRAY ? (tokensKv.value as GgufArray).items.length : undefined;
  const vocabSize = scalar("vocab_size");
  if (vocabSize !== undefined && nTokens !== undefined && vocabSize !== nTokens) {
    add(
      p + "vocab_size",
      String(vocabSize),
      "inconsistent",
      `the vocabulary (tokenizer.ggml.tokens) has ${nTokens} tokens`,
    );
  }
  const shape = (name: string, want: (number | undefined)[], why: string) => {
    const t = tensors.get(name);
    if (!t) return;
    for (let i = 0; i < want.length; i++) {
      const w = want[i];
      if (w !== undefined && t.shape[i] !== w) {
        add(name, `[${t.shape.join(", ")}]`, "inconsistent", `dimension ${i} should be ${w} (${why})`);
        return;
      }
    }
  };
  shape("token_embd.weight", [nEmbd, nTokens], `${p}embedding_length, and the vocabulary size`);
  if (header.tensors.length && nLayer !== undefined) {
    const blocks = new Set<number>();
    for (const t of header.tensors) {
      const m = /^blk\.(\d+)\./.exec(t.name);
      if (m) blocks.add(Number(m[1]));
    }
    const highest = blocks.size ? Math.max(...blocks) + 1 : 0;
    if (blocks.size && highest !== nLayer) {
      add(
        p + "block_count",
        String(nLayer),
        "inconsistent",
        `the file has tensors for ${highest} block(s) (blk.0 .. blk.${highest - 1})`,
      );
    }
    const nFf = scalar("feed_forward_length");
    const kvDim = headDim !== undefined && nHeadKv !== undefined ? headDim * nHeadKv : undefined;
    const qDim = headDim !== undefined && nHead !== undefined ? headDim * nHead : undefined;
    shape("blk.0.attn_norm.weight", [nEmbd], `${p}embedding_length`);
    shape("blk.0.attn_q.weight", [nEmbd, qDim], `${p}embedding_length and the head count and size`);
    shape("blk.0.attn_k.weight", [nEmbd, kvDim], `${p}embedding_length and the KV head count and size`);
    shape("blk.0.attn_v.weight", [nEmbd, kvDim], `${p}embedding_length and the KV head count and size`);
    shape("blk.0.ffn_up.weight", [nEmbd, nFf], `${p}embedding_length and ${p}feed_forward_length`);
    shape("blk.0.ffn_gate.weight", [nEmbd, nFf], `${p}embedding_length and ${p}feed_forward_length`);
    shape("blk.0.ffn_down.weight", [nFf, nEmbd], `${p}feed_forward_length and ${p}embedding_length`);
    shape("output_norm.weight", [nEmbd], `${p}embedding_length`);
    shape("output.weight", [nEmbd, nTokens], `${p}embedding_length and the vocabulary size`);
  }

  // 3. Tensor data alignment: llama.cpp maps the file and uses tensors in place.
  const al = meta.get("general.alignment");
  for (const t of header.tensors) {
    const at = header.dataOffset + t.offset;
    if (at % TENSOR_ALIGNMENT !== 0) {
      add(
        "general.alignment",
        al ? show(al) : String(header.alignment),
        "misaligned",
        `tensor "${t.name}" starts at file offset ${at}, not a multiple of ${TENSOR_ALIGNMENT}; llama.cpp maps ` +
          `tensors in place and needs ${TENSOR_ALIGNMENT}-byte alignment (ggml-backend.cpp). Rewrite the file ` +
          `with general.alignment ${TENSOR_ALIGNMENT}`,
      );
      break;
    }
  }

  // 4. The vocabulary.
  vocabularyProblems(meta, add);
  return out;
}

function arrayNumbers(a: GgufArray): { v: number; type: number }[] {
  if (a.itemType === GgufValueType.ARRAY || a.itemType === GgufValueType.STRING) return [{ v: NaN, type: a.itemType }];
  return Array.from(a.items as ArrayLike<number | bigint | boolean>, (x) => ({
    v: typeof x === "boolean" ? Number(x) : Number(x),
    type: a.itemType,
  }));
}

function vocabularyProblems(
  meta: ReadonlyMap<string, GgufKv>,
  add: (key: string, value: string, code: PreflightCode, why: string) => void,
): void {
  const model = meta.get("tokenizer.ggml.model");
  if (model) {
    if (model.type === GgufValueType.STRING && !TOKENIZER_MODELS.includes(model.value as string)) {
      add(
        "tokenizer.ggml.model",
        show(model),
        "invalid_vocab",
        `is not a tokenizer llama.cpp knows (${TOKENIZER_MODELS.join(", ")})`,
      );
    }
  }
  const tokensKv = meta.get("tokenizer.ggml.tokens");
  if (!tokensKv) return;
  if (tokensKv.type !== GgufValueType.ARRAY || (tokensKv.value as GgufArray).itemType !== GgufValueType.STRING) {
    add("tokenizer.ggml.tokens", show(tokensKv), "wrong_type", "must be an array of strings");
    return;
  }
  const tokens = (tokensKv.value as GgufArray).items as string[];
  if (tokens.length === 0) add("tokenizer.ggml.tokens", show(tokensKv), "invalid_vocab", "the vocabulary is empty");
  if (tokens.length > INT32_MAX) {
    add("tokenizer.ggml.tokens", show(tokensKv), "out_of_range", `more than ${INT32_MAX} tokens`);
  }
  const seen = new Map<string, number>();
  for (let i = 0; i < tokens.length; i++) {
    const first = seen.get(tokens[i]);
    if (first !== undefined) {
      add(
        "tokenizer.ggml.tokens",
        `[${first}] = [${i}] = ${JSON.stringify(tokens[i])}`,
        "duplicate_token",
        `token texts must be unique (llama.cpp asserts id_to_token.size() == token_to_id.size(), llama-vocab.cpp)`,
      );
      break;
    }
    seen.set(tokens[i], i);
  }
  const n = tokens.length;
  const scores = meta.get("tokenizer.ggml.scores");
  if (scores) {
    const a = scores.value as GgufArray;
    if (scores.type !== GgufValueType.ARRAY || !FLOAT_TYPES.includes(a.itemType)) {
      add("tokenizer.ggml.scores", show(scores), "wrong_type", "must be an array of floats");
    } else if (a.items.length !== n) {
      add("tokenizer.ggml.scores", show(scores), "inconsistent", `must have one score per token (${n})`);
    } else {
      const items = a.items as Float32Array;
      const i = items.findIndex((x) => !Number.isFinite(x));
      if (i >= 0) add("tokenizer.ggml.scores", `[${i}] = ${items[i]}`, "not_finite", "scores must be finite");
    }
  }
  const types = meta.get("tokenizer.ggml.token_type");
  if (types) {
    const a = types.value as GgufArray;
    if (types.type !== GgufValueType.ARRAY || !INT_TYPES.includes(a.itemType)) {
      add("tokenizer.ggml.token_type", show(types), "wrong_type", "must be an array of integers");
    } else if (a.items.length !== n) {
      add("tokenizer.ggml.token_type", show(types), "inconsistent", `must have one type per token (${n})`);
    } else {
      const items = Array.from(a.items as ArrayLike<number | bigint>, Number);
      const i = items.findIndex((x) => x < 0 || x > MAX_TOKEN_TYPE);
      if (i >= 0) {
        add(
          "tokenizer.ggml.token_type",
          `[${i}] = ${items[i]}`,
          "out_of_range",
          `token types are 0..${MAX_TOKEN_TYPE}`,
        );
      }
    }
  }
  const merges = meta.get("tokenizer.ggml.merges");
  if (
    merges && (merges.type !== GgufValueType.ARRAY || (merges.value as GgufArray).itemType !== GgufValueType.STRING)
  ) {
    add("tokenizer.ggml.merges", show(merges), "wrong_type", "must be an array of strings");
  }
  for (const [key, kv] of meta) {
    if (!/^tokenizer\.ggml\.[a-z_]+_token_id$/.test(key)) continue;
    if (!INT_TYPES.includes(kv.type)) {
      add(key, show(kv), "wrong_type", "a token id must be an integer");
      continue;
    }
    const id = numberOf(kv.value);
    if (id < 0 || id >= n) add(key, show(kv), "out_of_range", `is not a token of the vocabulary (0..${n - 1})`);
  }
}

/**
 * The one message `inspect` prints and every command that refuses the file throws: the file, the first problem
 * (key and value), how many more, and the fix.
 *
 * @param path The file.
 * @param problems The problems (at least one).
 * @returns The message.
 */
export function preflightMessage(path: string, problems: readonly PreflightProblem[]): string {
  const first = problems[0];
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : "";
  return `Cannot use model "${path}": its metadata is invalid: ${first?.message ?? "no problem recorded"}${more}. ` +
    `Nothing was loaded. See every problem with: crossval inspect ${path}; regenerate or re-fetch the file ` +
    `(crossval fetch --force), or fix the named key.`;
}

/**
 * Throw when a header fails pre-flight.
 *
 * @param header The header.
 * @param path The file, for the message.
 * @throws {InvalidModelError} Naming the first key and value, with the count of the others.
 */
export function assertPreflight(header: GgufHeader, path: string): void {
  const problems = preflightGguf(header);
  if (problems.length) throw new InvalidModelError(path, problems);
}
