/**
 * The BitNet tensor manifest (names, shapes, allowed types, required or not), as llama.cpp creates the tensors in
 * `src/models/bitnet.cpp` `load_arch_tensors`, and validation of a file against it. Shapes are in GGML order
 * (`[ne0, ne1]` = `[input, output]`).
 *
 * @module
 */

import type { GgufTensorInfo } from "../gguf/types.ts";
import { GgmlType, ggmlTypeName } from "../quant/ggml_type.ts";
import { type BitnetConfig, EMBEDDING_TYPES, TERNARY_TYPES, typeNames } from "./config.ts";

/** What a tensor is for. */
export type TensorRole = "embedding" | "norm" | "ternary" | "scale";

/** One expected tensor. */
export interface TensorSpec {
  /** GGUF name, e.g. `blk.0.attn_q.weight`. */
  readonly name: string;
  /** Expected shape in GGML order. */
  readonly shape: readonly number[];
  /** Allowed GGML type ids. */
  readonly types: readonly number[];
  /** False for the optional per-tensor `.scale` tensors. */
  readonly required: boolean;
  /** Role of the tensor. */
  readonly role: TensorRole;
}

/** Projection names of one block, with their `[in, out]` shapes given the config. */
export function projections(cfg: BitnetConfig): ReadonlyArray<readonly [string, number, number]> {
  const e = cfg.nEmbd, f = cfg.nFf, kv = cfg.nHeadKv * cfg.headDim;
  return [
    ["attn_q", e, e],
    ["attn_k", e, kv],
    ["attn_v", e, kv],
    ["attn_output", e, e],
    ["ffn_gate", e, f],
    ["ffn_up", e, f],
    ["ffn_down", f, e],
  ];
}

/**
 * Every tensor a BitNet model may contain, in the order llama.cpp's converter writes them.
 *
 * @param cfg Hyperparameters.
 * @returns Tensor specs (required ones and the optional `.scale` tensors).
 */
export function bitnetManifest(cfg: BitnetConfig): TensorSpec[] {
  const f32 = [GgmlType.F32];
  const out: TensorSpec[] = [
    {
      name: "token_embd.weight",
      shape: [cfg.nEmbd, cfg.nVocab],
      types: EMBEDDING_TYPES,
      required: true,
      role: "embedding",
    },
  ];
  for (let i = 0; i < cfg.nLayer; i++) {
    const b = `blk.${i}.`;
    out.push({ name: `${b}attn_norm.weight`, shape: [cfg.nEmbd], types: f32, required: true, role: "norm" });
    for (const [name, inDim, outDim] of projections(cfg)) {
      out.push({
        name: `${b}${name}.weight`,
        shape: [inDim, outDim],
        types: TERNARY_TYPES,
        required: true,
        role: "ternary",
      });
      out.push({ name: `${b}${name}.scale`, shape: [1], types: f32, required: false, role: "scale" });
    }
    out.push({ name: `${b}attn_sub_norm.weight`, shape: [cfg.nEmbd], types: f32, required: true, role: "norm" });
    out.push({ name: `${b}ffn_norm.weight`, shape: [cfg.nEmbd], types: f32, required: true, role: "norm" });
    out.push({ name: `${b}ffn_sub_norm.weight`, shape: [cfg.nFf], types: f32, required: true, role: "norm" });
  }
  out.push({ name: "output_norm.weight", shape: [cfg.nEmbd], types: f32, required: true, role: "norm" });
  return out;
}

/** A way a file departs from the manifest. */
export interface ManifestProblem {
  /** Kind of problem. */
  readonly kind: "missing" | "extra" | "shape" | "type";
  /** Tensor name. */
  readonly tensor: string;
  /** One-line explanation with expected and found values. */
  readonly message: string;
}

/**
 * Compare a file's tensors with the manifest.
 *
 * @param tensors Tensor infos from the file.
 * @param cfg Hyperparameters read from the same file.
 * @returns Problems found (empty when the file matches).
 */
export function validateTensors(tensors: readonly GgufTensorInfo[], cfg: BitnetConfig): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const known = new Set<string>();
  for (const spec of bitnetManifest(cfg)) {
    known.add(spec.name);
    const t = byName.get(spec.name);
    if (!t) {
      if (spec.required) {
        problems.push({
          kind: "missing",
          tensor: spec.name,
          message: `missing tensor ${spec.name} [${spec.shape.join(", ")}]`,
        });
      }
      continue;
    }
    const shapeOk = t.shape.length === spec.shape.length && t.shape.every((d, i) => d === spec.shape[i]);
    if (!shapeOk) {
      problems.push({
        kind: "shape",
        tensor: spec.name,
        message: `${spec.name} has shape [${t.shape.join(", ")}], expected [${spec.shape.join(", ")}]`,
      });
    }
    if (!spec.types.includes(t.type)) {
      problems.push({
        kind: "type",
        tensor: spec.name,
        message: `${spec.name} has type ${ggmlTypeName(t.type)}, expected one of ${typeNames(spec.types)}`,
      });
    }
  }
  for (const t of tensors) {
    if (!known.has(t.name)) problems.push({ kind: "extra", tensor: t.name, message: `unexpected tensor ${t.name}` });
  }
  return problems;
}

/** Whether the pinned stock llama.cpp (v0.5.0) can load and correctly run a model. */
export interface LlamaCppCompatibility {
  /** True when llama.cpp loads the file. */
  readonly loads: boolean;
  /** True when it also computes the architecture's math correctly (false for bitnet-b1.58: SiLU vs relu2). */
  readonly correct: boolean;
  /** Reasons, one line each. */
  readonly notes: readonly string[];
}

/**
 * What the pinned stock llama.cpp makes of a BitNet file (docs/formats.md sections 1 and 2).
 *
 * @param cfg Hyperparameters.
 * @param tensors Tensor infos.
 * @returns Compatibility verdict with reasons.
 */
export function llamaCppCompatibility(cfg: BitnetConfig, tensors: readonly GgufTensorInfo[]): LlamaCppCompatibility {
  const notes: string[] = [];
  let loads = true;
  let correct = true;
  if (cfg.arch !== "bitnet") {
    loads = false;
    notes.push(`architecture "${cfg.arch}" is unknown to stock llama.cpp (it only has "bitnet", with a SiLU FFN)`);
  }
  if (tensors.some((t) => t.type === GgmlType.I2_S)) {
    loads = false;
    notes.push("I2_S tensors (type 36) are bitnet.cpp's format; stock llama.cpp rejects them at GGUF parse");
  }
  if (cfg.activation !== "silu") {
    correct = false;
    notes.push("llama.cpp's bitnet graph hard-codes SiLU; this model needs relu2 (use bitnet.cpp or a patched build)");
  }
  if (loads && notes.length === 0) notes.push("loads and runs in stock llama.cpp (bitnet graph, SiLU FFN)");
  return { loads, correct: loads && correct, notes };
}

/** What {@link weightTypeNames} reports. */
export interface WeightTypeNames {
  /** Types of the block projections (`blk.N.attn_q.weight`, ...), upper case and sorted (`TQ2_0`; several if mixed). */
  readonly projections: readonly string[];
  /** Type of `token_embd.weight` (`F16`), or null when the file has none. */
  readonly embedding: string | null;
}

const PROJECTION_WEIGHT = /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;

/**
 * The GGML types a file stores its weights in, as receipts record them: the projections' and the embedding's.
 *
 * @param tensors Tensor infos from the file.
 * @returns Upper-case type names.
 * @example
 * ```ts
 * import { weightTypeNames } from "./manifest.ts";
 * const t = (name: string, type: number) => ({ name, type, shape: [], offset: 0, byteLength: 0, nElements: 0 });
 * console.log(weightTypeNames([t("token_embd.weight", 1), t("blk.0.attn_q.weight", 35)]));
 * // { projections: ["TQ2_0"], embedding: "F16" }
 * ```
 */
export function weightTypeNames(tensors: readonly GgufTensorInfo[]): WeightTypeNames {
  const projections = new Set<string>();
  let embedding: string | null = null;
  for (const t of tensors) {
    if (PROJECTION_WEIGHT.test(t.name)) projections.add(ggmlTypeName(t.type).toUpperCase());
    else if (t.name === "token_embd.weight") embedding = ggmlTypeName(t.type).toUpperCase();
  }
  return { projections: [...projections].sort(), embedding };
}
