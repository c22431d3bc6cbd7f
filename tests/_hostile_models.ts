/**
 * Hostile models for the crash and fuzz tests: a generated tiny model (engine/synth) rewritten with the GGUF writer
 * (engine/gguf/writer.ts) after one edit of its metadata, so the file parses and every tensor is intact but a
 * value is nonsense. {@link KNOWN_CRASHES} are the files that abort llama.cpp v0.5.0 when it is handed them
 * without pre-flight, with the assertion each one hits.
 *
 * @module
 */

import { encodeGguf, type GgufArray, type GgufKv, GgufValueType } from "../engine/gguf/mod.ts";
import { normalizeSpec, synthesizeModel } from "../engine/synth/mod.ts";

/** Metadata in file order, as the writer takes it. */
export type Metadata = [string, GgufKv][];
/** One edit of a model's metadata. */
export type MetadataEdit = (m: Metadata) => Metadata;

let base: ReturnType<typeof synthesizeModel>["gguf"] | undefined;

/** The unedited model: tiny shape, 2 layers (fast to load in both engines). */
export function baseModel(): ReturnType<typeof synthesizeModel>["gguf"] {
  return base ??= synthesizeModel(normalizeSpec({ layers: 2 })).gguf;
}

/** The base model's metadata (a fresh copy). */
export function baseMetadata(): Metadata {
  return [...baseModel().metadata].map(([k, v]) => [k, v] as [string, GgufKv]);
}

/**
 * The bytes of the base model after `edit`.
 *
 * @param edit The metadata edit.
 * @returns A complete GGUF file.
 */
export function hostileModelBytes(edit: MetadataEdit): Uint8Array {
  return encodeGguf({ metadata: edit(baseMetadata()), tensors: baseModel().tensors });
}

/**
 * The bytes of the base model with `key` set to `kv` behind the writer's back: the file is laid out as if the key
 * were absent, then a placeholder key of the same length is renamed to `key`. For `general.alignment`, whose value
 * the writer would otherwise use for the layout (a NaN or a 2^31 alignment cannot be laid out).
 *
 * @param key The key.
 * @param kv Its value.
 * @returns A complete GGUF file.
 */
export function rawKeyModelBytes(key: string, kv: GgufKv): Uint8Array {
  const placeholder = `${key.slice(0, -1)}${key.endsWith("~") ? "!" : "~"}`;
  const bytes = encodeGguf({
    metadata: [...baseMetadata().filter(([k]) => k !== key), [placeholder, kv]],
    tensors: baseModel().tensors,
  });
  const enc = new TextEncoder(), from = enc.encode(placeholder), to = enc.encode(key);
  outer: for (let i = 0; i + from.length <= bytes.length; i++) {
    for (let j = 0; j < from.length; j++) if (bytes[i + j] !== from[j]) continue outer;
    bytes.set(to, i);
    return bytes;
  }
  throw new Error(`placeholder key ${placeholder} not found in the encoded header`);
}

/**
 * Write the base model after `edit` to `<dir>/<name>.gguf`.
 *
 * @param dir Directory.
 * @param name File stem.
 * @param edit The metadata edit.
 * @returns The path.
 */
export async function writeHostileModel(dir: string, name: string, edit: MetadataEdit): Promise<string> {
  const path = `${dir}/${name}.gguf`;
  await Deno.writeFile(path, hostileModelBytes(edit));
  return path;
}

/** Set (or add) one key. */
export function setKey(key: string, kv: GgufKv): MetadataEdit {
  return (m) => {
    const i = m.findIndex(([k]) => k === key);
    if (i >= 0) m[i] = [key, kv];
    else m.push([key, kv]);
    return m;
  };
}

/** A file that aborts llama.cpp, what pre-flight says about it, and what the reference process reports. */
export interface KnownCrash {
  /** File stem. */
  readonly name: string;
  /** The edit. */
  readonly edit: MetadataEdit;
  /** The key pre-flight names. */
  readonly key: string;
  /** The value pre-flight shows. */
  readonly value: string;
  /** The request in flight when llama.cpp aborts. */
  readonly op: "load" | "eval";
  /** The native assertion. */
  readonly message: string;
  /** Its `file:line` in llama.cpp v0.5.0. */
  readonly location: string;
}

const EPS = "bitnet.attention.layer_norm_rms_epsilon";

/** The crashes of issue 16, as measured against llama.cpp v0.5.0 (`@node-llama-cpp/linux-x64@3.22.1`). */
export const KNOWN_CRASHES: readonly KnownCrash[] = [
  {
    name: "eps_nan",
    edit: setKey(EPS, { type: GgufValueType.FLOAT32, value: NaN }),
    key: EPS,
    value: "NaN",
    op: "eval",
    message: "GGML_ASSERT(eps >= 0.0f) failed",
    location: "ggml-cpu/ops.cpp:3949",
  },
  {
    name: "eps_negative",
    edit: setKey(EPS, { type: GgufValueType.FLOAT32, value: -1e-5 }),
    key: EPS,
    value: "-0.00001",
    op: "eval",
    message: "GGML_ASSERT(eps >= 0.0f) failed",
    location: "ggml-cpu/ops.cpp:3949",
  },
  {
    name: "block_count_0",
    edit: setKey("bitnet.block_count", { type: GgufValueType.UINT32, value: 0 }),
    key: "bitnet.block_count",
    value: "0",
    op: "load",
    message: "GGML_ASSERT(hparams.n_layer_all > 0 && hparams.n_layer_all <= LLAMA_MAX_LAYERS) failed",
    location: "llama-model.cpp:1260",
  },
  {
    // Alignment 1 with a header whose length is not a multiple of 32: the first tensor lands off the boundary.
    name: "misaligned",
    edit: (m) =>
      setKey("general.alignment", { type: GgufValueType.UINT32, value: 1 })(
        setKey("general.name", { type: GgufValueType.STRING, value: "crossval-synth-tinyx" })(m),
      ),
    key: "general.alignment",
    value: "1",
    op: "load",
    message: 'GGML_ASSERT((uintptr_t)ptr % TENSOR_ALIGNMENT == 0 && "buffer pointer must be aligned") failed',
    location: "ggml-backend.cpp:2511",
  },
  {
    name: "duplicate_tokens",
    edit: (m) => {
      const i = m.findIndex(([k]) => k === "tokenizer.ggml.tokens");
      const a = m[i][1].value as GgufArray;
      const items = [...(a.items as string[])];
      items[300] = items[301];
      m[i] = [m[i][0], { type: GgufValueType.ARRAY, value: { itemType: a.itemType, items } }];
      return m;
    },
    key: "tokenizer.ggml.tokens",
    value: '[300] = [301] = "ers"',
    op: "load",
    message: "GGML_ASSERT(id_to_token.size() == token_to_id.size()) failed",
    location: "llama-vocab.cpp:2539",
  },
];
