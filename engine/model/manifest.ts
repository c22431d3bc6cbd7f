/**
 * Tensor manifests: what an architecture's file holds (names, shapes, allowed types, required or not, role), and the
 * check of a file against one. Each architecture writes its manifest in its own file, in the order its converter
 * writes the tensors (llama.cpp's `load_arch_tensors` in `src/models/<arch>.cpp`). Shapes are in GGML order
 * (`[ne0, ne1]` = `[input, output]`).
 *
 * @module
 */

import type { GgufTensorInfo } from "../gguf/types.ts";
import { GgmlType, ggmlTypeName } from "../quant/ggml_type.ts";
import { typeNames } from "./config.ts";

/**
 * What a tensor is for: `embedding` (token rows, also the output matrix when `output` is absent), `output` (an
 * untied output matrix), `norm` weights, `ternary` projections, their per-tensor `scale`, or `host` tensors the
 * engine reads on the host instead of placing them in the kernel arena (`rope_freqs`).
 */
export type TensorRole = "embedding" | "output" | "norm" | "ternary" | "scale" | "host";

/** One expected tensor. */
export interface TensorSpec {
  /** GGUF name, e.g. `blk.0.attn_q.weight`. */
  readonly name: string;
  /** Expected shape in GGML order. */
  readonly shape: readonly number[];
  /** Allowed GGML type ids. */
  readonly types: readonly number[];
  /** False for optional tensors (`.scale`, `output.weight`, `rope_freqs.weight`). */
  readonly required: boolean;
  /** Role of the tensor. */
  readonly role: TensorRole;
}

/** Weight types the engine accepts for the ternary projections. */
export const TERNARY_TYPES: readonly number[] = [GgmlType.TQ2_0, GgmlType.TQ1_0, GgmlType.I2_S];
/** Types the engine accepts for the token embedding and the output matrix. */
export const EMBEDDING_TYPES: readonly number[] = [
  GgmlType.F16,
  GgmlType.BF16,
  GgmlType.Q8_0,
  GgmlType.Q6_K,
  GgmlType.F32,
];
/** The norm weights' type. */
export const F32_ONLY: readonly number[] = [GgmlType.F32];

/**
 * The spec of one ternary projection, and of its optional per-tensor scale when the architecture has them.
 *
 * @param name GGUF name without `.weight` (`blk.0.attn_q`).
 * @param inDim K.
 * @param outDim N.
 * @param scales Whether the architecture reads an optional `<name>.scale` (`bitnet` does, `llama` does not).
 * @returns One or two specs.
 */
export function projectionSpecs(name: string, inDim: number, outDim: number, scales: boolean): TensorSpec[] {
  const w: TensorSpec = {
    name: `${name}.weight`,
    shape: [inDim, outDim],
    types: TERNARY_TYPES,
    required: true,
    role: "ternary",
  };
  return scales ? [w, { name: `${name}.scale`, shape: [1], types: F32_ONLY, required: false, role: "scale" }] : [w];
}

/** The spec of a norm weight `[n]`. */
export function normSpec(name: string, n: number): TensorSpec {
  return { name, shape: [n], types: F32_ONLY, required: true, role: "norm" };
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
 * Compare a file's tensors with a manifest.
 *
 * @param tensors Tensor infos from the file.
 * @param manifest The architecture's manifest for the file's hyperparameters.
 * @returns Problems found (empty when the file matches).
 * @example
 * ```ts
 * import { checkManifest, normSpec } from "./manifest.ts";
 * const t = { name: "output_norm.weight", type: 0, shape: [8], offset: 0, byteLength: 32, nElements: 8 };
 * console.log(checkManifest([t], [normSpec("output_norm.weight", 4)])[0].kind); // shape
 * ```
 */
export function checkManifest(tensors: readonly GgufTensorInfo[], manifest: readonly TensorSpec[]): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const known = new Set<string>();
  for (const spec of manifest) {
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
