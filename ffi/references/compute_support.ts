/**
 * Whether a reference can compute a model, decided from the file's architecture and tensor types before anything is
 * handed to it. A reference given a format it cannot compute does not always say so: ik_llama.cpp loads an I2_S file
 * and computes garbage (no I2_S dot product), and dies of SIGFPE on TQ2_0 (a type id it does not have, block size 0).
 * So the tool refuses by name, with the reason and the fix. The facts are measured, per reference and commit, in
 * docs/references.md ("What each reference computes"); this table is their summary.
 *
 * Pure: callers read the GGUF header (tensor names, GGML type ids, shapes in ggml order) and pass it in; `ffi/`
 * does not import the engine's GGUF reader.
 *
 * @module
 */

/** References the guard knows. */
export type ReferenceId = "llama.cpp" | "ik_llama.cpp";

/** A tensor as the GGUF header describes it. */
export interface TensorDesc {
  /** Tensor name (`blk.0.ffn_up.weight`). */
  readonly name: string;
  /** GGML type id. */
  readonly type: number;
  /** Dimensions in ggml order (ne0 first: the row length of a matrix). */
  readonly shape: readonly number[];
}

/** One reason the reference cannot compute the model as it is. */
export interface SupportProblem {
  /** What is wrong. */
  readonly kind: "architecture" | "type" | "shape";
  /** What it is, in words a user understands. */
  readonly reason: string;
  /** What to do instead. */
  readonly fix: string;
  /** Tensors concerned (empty for the architecture). */
  readonly tensors: readonly string[];
  /** True when a lossless transcode to F32 ({@link ComputeSupport.transcodable}) removes this problem. */
  readonly transcodable: boolean;
}

/** The verdict. */
export interface ComputeSupport {
  /** The reference. */
  readonly reference: ReferenceId;
  /** True when the reference computes the model as it is. */
  readonly ok: boolean;
  /** Why not (empty when ok). */
  readonly problems: readonly SupportProblem[];
  /** True when every problem goes away by transcoding these tensors to F32 (lossless: ternary values times a scale). */
  readonly transcodable: boolean;
  /** Tensors a transcode would rewrite (those of types the reference cannot compute). */
  readonly transcodeTensors: readonly string[];
}

/** GGML type ids this module names (ggml.h; 34-36 and 134-135 from bitnet.cpp and ik_llama.cpp). */
export const GGML_TYPE_IDS = {
  F32: 0,
  F16: 1,
  Q8_0: 8,
  Q6_K: 14,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  I2_S: 36,
  IQ1_BN: 134,
  IQ2_BN: 135,
} as const;

const NAMES: ReadonlyMap<number, string> = new Map(Object.entries(GGML_TYPE_IDS).map(([k, v]) => [v, k]));

/** Upper-case name of a GGML type id (`TQ2_0`), or `type <id>`. */
export function typeName(id: number): string {
  return NAMES.get(id) ?? `type ${id}`;
}

/** Ternary formats whose values are `{-1, 0, +1} * scale`: exactly representable in F32. */
const TERNARY: ReadonlySet<number> = new Set([GGML_TYPE_IDS.TQ1_0, GGML_TYPE_IDS.TQ2_0, GGML_TYPE_IDS.I2_S]);

interface TypeRule {
  /** Computes it. */
  readonly ok: boolean;
  /** Why not. */
  readonly reason?: string;
  /** Extra shape rule for types it computes. */
  readonly shape?: (t: TensorDesc) => string | null;
}

/** ik_llama.cpp's IQ1_BN/IQ2_BN matmul quantizes activations to Q8_K64, which asserts rows of >= 512 values. */
function bnRowRule(t: TensorDesc): string | null {
  const k = t.shape[0] ?? 0;
  if (t.shape.length < 2) return null;
  return k >= 512 && k % 64 === 0
    ? null
    : `its rows hold ${k} weights; ik_llama.cpp's ${typeName(t.type)} matmul needs rows of at least 512 ` +
      `(GGML_ASSERT(k >= 8*QK_IQ1BN) in quantize_row_q8_K64)`;
}

const RULES: Readonly<
  Record<ReferenceId, { arch: ReadonlyMap<string, string | null>; types: ReadonlyMap<number, TypeRule> }>
> = {
  "llama.cpp": {
    arch: new Map([
      ["bitnet", null],
      // The llama family with ternary weights (Falcon3 1.58-bit): tests/engine_vs_llama_test.ts.
      ["llama", null],
      [
        "bitnet-b1.58",
        "the pinned llama.cpp (v0.5.0) has no bitnet-b1.58 architecture, and its bitnet graph hard-codes SiLU " +
        "where BitNet b1.58 2B4T needs squared ReLU",
      ],
    ]),
    types: new Map<number, TypeRule>([
      [GGML_TYPE_IDS.F32, { ok: true }],
      [GGML_TYPE_IDS.F16, { ok: true }],
      [GGML_TYPE_IDS.BF16, { ok: true }],
      [GGML_TYPE_IDS.Q8_0, { ok: true }],
      [GGML_TYPE_IDS.Q6_K, { ok: true }],
      [GGML_TYPE_IDS.TQ1_0, { ok: true }],
      [GGML_TYPE_IDS.TQ2_0, { ok: true }],
      [
        GGML_TYPE_IDS.I2_S,
        { ok: false, reason: "I2_S (type 36) is bitnet.cpp's format; the pinned llama.cpp rejects it at load" },
      ],
    ]),
  },
  "ik_llama.cpp": {
    arch: new Map([["bitnet-b1.58", null]]),
    types: new Map<number, TypeRule>([
      [GGML_TYPE_IDS.F32, { ok: true }],
      [GGML_TYPE_IDS.F16, { ok: true }],
      [GGML_TYPE_IDS.BF16, { ok: true }],
      [GGML_TYPE_IDS.Q8_0, { ok: true }],
      [GGML_TYPE_IDS.Q6_K, { ok: true }],
      [GGML_TYPE_IDS.IQ1_BN, { ok: true, shape: bnRowRule }],
      [GGML_TYPE_IDS.IQ2_BN, { ok: true, shape: bnRowRule }],
      [
        GGML_TYPE_IDS.TQ1_0,
        { ok: false, reason: "ik_llama.cpp has no TQ1_0 (type 34 is not in its type table: it dies of SIGFPE)" },
      ],
      [
        GGML_TYPE_IDS.TQ2_0,
        { ok: false, reason: "ik_llama.cpp has no TQ2_0 (type 35 is not in its type table: it dies of SIGFPE)" },
      ],
      [
        GGML_TYPE_IDS.I2_S,
        {
          ok: false,
          reason: "ik_llama.cpp loads I2_S (type 36) but has no I2_S matmul: it computes garbage without an error",
        },
      ],
    ]),
  },
};

function otherReference(r: ReferenceId): ReferenceId {
  return r === "llama.cpp" ? "ik_llama.cpp" : "llama.cpp";
}

const REFERENCE_FLAG: Readonly<Record<ReferenceId, string>> = { "llama.cpp": "llama.cpp", "ik_llama.cpp": "ik_llama" };

/**
 * Whether `reference` computes a model with this architecture and these tensors, and if not, why and what to do.
 *
 * @param reference Which reference.
 * @param model `arch` (`general.architecture`) and the tensors from the GGUF header.
 * @returns The verdict; `transcodable` says whether a lossless F32 transcode of `transcodeTensors` makes it `ok`.
 * @example
 * ```ts
 * import { computeSupport, GGML_TYPE_IDS } from "./compute_support.ts";
 * const v = computeSupport("ik_llama.cpp", {
 *   arch: "bitnet-b1.58",
 *   tensors: [{ name: "blk.0.ffn_up.weight", type: GGML_TYPE_IDS.I2_S, shape: [256, 768] }],
 * });
 * console.log(v.ok, v.transcodable, v.transcodeTensors); // false true ["blk.0.ffn_up.weight"]
 * ```
 */
export function computeSupport(
  reference: ReferenceId,
  model: { readonly arch: string; readonly tensors: readonly TensorDesc[] },
): ComputeSupport {
  const rules = RULES[reference];
  const problems: SupportProblem[] = [];
  const other = otherReference(reference);
  if (!rules.arch.has(model.arch)) {
    const otherKnows = RULES[other].arch.has(model.arch) && RULES[other].arch.get(model.arch) === null;
    problems.push({
      kind: "architecture",
      reason: `${reference} is not verified to compute architecture "${model.arch}" (verified: ${
        [...rules.arch.keys()].filter((a) => rules.arch.get(a) === null).join(", ")
      })`,
      fix: otherKnows ? `--reference ${REFERENCE_FLAG[other]}` : "use a reference that runs this architecture",
      tensors: [],
      transcodable: false,
    });
  } else {
    const why = rules.arch.get(model.arch);
    if (why) {
      problems.push({
        kind: "architecture",
        reason: why,
        fix: `--reference ${REFERENCE_FLAG[other]}`,
        tensors: [],
        transcodable: false,
      });
    }
  }
  const byType = new Map<number, string[]>();
  const shapeIssues: { t: TensorDesc; why: string }[] = [];
  for (const t of model.tensors) {
    const rule = rules.types.get(t.type);
    if (rule?.ok) {
      const why = rule.shape?.(t);
      if (why) shapeIssues.push({ t, why });
      continue;
    }
    byType.set(t.type, [...(byType.get(t.type) ?? []), t.name]);
  }
  const transcodeTensors: string[] = [];
  // A fix is offered only where it helps: no conversion can make a reference compute an architecture it lacks, and
  // the other reference is named only when it computes this architecture.
  const archOk = rules.arch.has(model.arch) && rules.arch.get(model.arch) === null;
  const otherArchOk = RULES[other].arch.has(model.arch) && RULES[other].arch.get(model.arch) === null;
  for (const [type, names] of byType) {
    const rule = rules.types.get(type);
    const ternary = TERNARY.has(type);
    if (ternary) transcodeTensors.push(...names);
    const fixes = [
      // Only ik_llama.cpp's parity path transcodes (parity/reference_plan.ts); the pinned llama.cpp runs the file.
      ternary && archOk && reference === "ik_llama.cpp"
        ? "transcode it losslessly to F32 (parity does this itself for this reference)"
        : null,
      archOk && reference === "llama.cpp" && type === GGML_TYPE_IDS.I2_S
        ? "crossval convert IN --to tq2_0 --out OUT"
        : null,
      otherArchOk && (RULES[other].types.get(type)?.ok || (ternary && other === "ik_llama.cpp"))
        ? `--reference ${REFERENCE_FLAG[other]}`
        : null,
    ].filter(Boolean);
    problems.push({
      kind: "type",
      reason: `${names.length} tensor${names.length === 1 ? "" : "s"} of type ${typeName(type)}: ${
        rule?.reason ?? `${reference} is not verified to compute ${typeName(type)}`
      }`,
      fix: fixes.join(", or ") || "convert the model to a type this reference computes",
      tensors: names,
      transcodable: ternary,
    });
  }
  for (const { t, why } of shapeIssues) {
    problems.push({
      kind: "shape",
      reason: `${t.name}: ${why}`,
      fix: "transcode the original ternary file to F32 instead (any row length works)",
      tensors: [t.name],
      // The engine has no dequantizer for ik_llama.cpp's own formats: no transcode from them.
      transcodable: false,
    });
  }
  return {
    reference,
    ok: problems.length === 0,
    problems,
    transcodable: problems.length > 0 && problems.every((p) => p.transcodable),
    transcodeTensors,
  };
}

/**
 * One message for a verdict that is not ok: what cannot run, why, and the fix.
 *
 * @param v The verdict.
 * @param modelPath The model, for the message.
 * @returns The message.
 */
export function supportMessage(v: ComputeSupport, modelPath: string): string {
  if (v.ok) return `${v.reference} computes ${modelPath}.`;
  const lines = v.problems.map((p) => `- ${p.reason}. Fix: ${p.fix}.`);
  return `${v.reference} cannot compute ${modelPath}:\n${lines.join("\n")}`;
}
