/**
 * Localization: replay every prompt (and each failing greedy-divergence sequence) on both sides with the named
 * intermediates captured (the engine's `onTensor` hook, llama.cpp's `cb_eval`; both use llama.cpp's graph names,
 * `attn_norm-0` ... `result_output`), then judge each op in graph order the way ggml's `test-backend-ops` judges a
 * kernel: given the same input, does it give the same output? The NMSE metric is ggml's, per token row.
 *
 * The difficulty end to end is that inputs are not always the same: a float rounding difference of ~1e-7
 * relative occasionally flips one int8 when activations are quantized to Q8_K, which moves that token's row by a
 * discrete step that later layers (and attention, across tokens) carry on. So for every op and every row the
 * check first asks whether that row's inputs matched (per-row NMSE ≤ `clean_row_nmse` for each input row the op
 * reads: the same row for row-local ops, every row up to it for attention's K and V), and counts, among those
 * clean-input rows, the ones where the op's output differs (> `new_error_row_nmse`). Rounding flips make such
 * rows rare; an implementation bug (wrong RoPE pairing, a flipped weight, another activation, coarser
 * quantization scales) makes them the majority. An op with a majority of new-error rows is `exceeded`; the first
 * failing op in graph order is the localization. A name the reference provides and the engine does not (while it
 * provides that kind at other layers) fails as `missing_in_engine`: a skipped step is localized to the step.
 *
 * @module
 */

import type { LocalizationCheck, LocalizedTensor, ParityThresholds } from "../receipts/parity_receipt.ts";
import { LAYER_TENSOR_KINDS, localizedStatus, OUTPUT_TENSOR_KINDS } from "../receipts/parity_gates.ts";
import type { NamedTensor } from "./subject.ts";

/**
 * Expected intermediate names of an `nLayer` model in graph order.
 *
 * @param nLayer Layers.
 * @returns `attn_norm-0`, `Qcur-0`, ..., `l_out-{n-1}`, `result_norm`, `result_output`.
 * @example
 * ```ts
 * import { graphOrder } from "./localize.ts";
 * console.log(graphOrder(2).slice(0, 2)); // ["attn_norm-0", "Qcur-0"]
 * ```
 */
export function graphOrder(nLayer: number): string[] {
  const names: string[] = [];
  for (let il = 0; il < nLayer; il++) for (const k of LAYER_TENSOR_KINDS) names.push(`${k}-${il}`);
  names.push(...OUTPUT_TENSOR_KINDS);
  return names;
}

/**
 * Split a graph name into kind and layer.
 *
 * @param name `ffn_down-3` or `result_norm`.
 * @returns `{ kind, layer }` (layer null for names without one).
 * @example
 * ```ts
 * import { parseTensorName } from "./localize.ts";
 * console.log(parseTensorName("attn_sub_norm-12")); // { kind: "attn_sub_norm", layer: 12 }
 * ```
 */
export function parseTensorName(name: string): { kind: string; layer: number | null } {
  const m = /^(.*)-(\d+)$/.exec(name);
  return m ? { kind: m[1], layer: Number(m[2]) } : { kind: name, layer: null };
}

/** The inputs an op reads: the same row of `rowLocal` tensors, and rows 0..r of `causal` ones (attention K/V). */
export interface OpInputs {
  /** Tensors read at the same row. */
  readonly rowLocal: readonly string[];
  /** Tensors read at every row up to the current one. */
  readonly causal: readonly string[];
}

/**
 * The inputs of an intermediate in the `bitnet` graph (`src/models/bitnet.cpp`) or the `llama` graph
 * (`src/models/llama.cpp`: no sub-norms, `ffn_swiglu`, `ffn_out`), preferring a scaled variant
 * (`ffn_up_s`) when present. `attn_norm-0` reads the token embedding, which both sides look up exactly, so it has
 * no inputs to check.
 *
 * @param name Graph name.
 * @param has Which names were captured.
 * @returns Its inputs.
 * @example
 * ```ts
 * import { inputsOf } from "./localize.ts";
 * console.log(inputsOf("kqv_out-1", () => true)); // { rowLocal: ["Qcur-1"], causal: ["Kcur-1", "Vcur-1"] }
 * ```
 */
export function inputsOf(name: string, has: (name: string) => boolean): OpInputs {
  const { kind, layer } = parseTensorName(name);
  const at = (k: string, l = layer) => `${k}-${l}`;
  const scaled = (k: string) => (has(at(`${k}_s`)) ? at(`${k}_s`) : at(k));
  const local = (...n: string[]): OpInputs => ({ rowLocal: n, causal: [] });
  switch (kind) {
    case "attn_norm":
      return layer === 0 ? local() : local(at("l_out", layer! - 1));
    case "Qcur":
    case "Kcur":
    case "Vcur":
      return local(at("attn_norm"));
    case "kqv_out":
      return { rowLocal: [at("Qcur")], causal: [at("Kcur"), at("Vcur")] };
    case "attn_sub_norm":
      return local(at("kqv_out"));
    case "attn_out":
      return local(has(at("attn_sub_norm")) ? at("attn_sub_norm") : at("kqv_out"));
    case "ffn_inp":
      return local(at("attn_out"), ...(layer === 0 ? [] : [at("l_out", layer! - 1)]));
    case "ffn_norm":
      return local(at("ffn_inp"));
    case "ffn_up":
    case "ffn_gate":
      // A reference that does not name its FFN norm (ik_llama.cpp): the op judged is norm + projection.
      return local(has(at("ffn_norm")) || !has(at("ffn_inp")) ? at("ffn_norm") : at("ffn_inp"));
    case "ffn_up_s":
      return local(at("ffn_up"));
    case "ffn_gate_s":
      return local(at("ffn_gate"));
    case "ffn_sub_out":
    case "ffn_swiglu":
      return local(scaled("ffn_up"), scaled("ffn_gate"));
    case "ffn_sub_norm":
      return local(at("ffn_sub_out"));
    case "ffn_down":
      return local(at("ffn_sub_norm"));
    case "ffn_out":
      return local(at("ffn_swiglu"));
    case "l_out":
      return local(has(at("ffn_down")) ? at("ffn_down") : at("ffn_out"), at("ffn_inp"));
    case "result_norm":
      return local(...lastLayerOut(has));
    case "result_output":
      return local("result_norm");
    default:
      return local();
  }
}

function lastLayerOut(has: (name: string) => boolean): string[] {
  for (let l = 1023; l >= 0; l--) if (has(`l_out-${l}`)) return [`l_out-${l}`];
  return [];
}

/** Per-row NMSE of one tensor in one sequence with the whole-tensor sums, or why there is none. */
type RowErrors = { readonly rows: Float64Array; readonly err: number; readonly norm: number } | "missing" | "shape";

/** What {@link LocalizationAccumulator.result} records about the replay. */
export interface LocalizationContext {
  /** Layers of the model. */
  readonly nLayer: number;
  /** Thresholds. */
  readonly thresholds: ParityThresholds;
  /** Prompt of the first logits/greedy failure, or null. */
  readonly prompt: number | null;
  /** Why localization ran / what was replayed. */
  readonly reason: string;
}

/**
 * Collects per-row NMSE of every named intermediate over replayed sequences (one capture at a time: only the
 * per-row numbers are kept, whatever the model size), then judges op by op.
 *
 * @example
 * ```ts
 * import { DEFAULT_THRESHOLDS } from "../receipts/parity_gates.ts";
 * import { LocalizationAccumulator } from "./localize.ts";
 * const acc = new LocalizationAccumulator();
 * const t = { rows: 1, cols: 2, data: Float32Array.of(1, 2) };
 * acc.add({ engine: new Map([["result_norm", t]]), reference: new Map([["result_norm", t]]) });
 * const out = acc.result({ nLayer: 0, thresholds: DEFAULT_THRESHOLDS, prompt: null, reason: "example" });
 * console.log(out.status, out.first_exceedance); // pass null
 * ```
 */
export class LocalizationAccumulator {
  readonly #sequences: Map<string, RowErrors>[] = [];
  readonly #engineKinds = new Set<string>();
  readonly #engineOnly = new Set<string>();
  #tokens = 0;

  /**
   * Add one replayed sequence's captures.
   *
   * @param captured Both sides' tensors by name.
   */
  add(
    captured: {
      readonly engine: ReadonlyMap<string, NamedTensor>;
      readonly reference: ReadonlyMap<string, NamedTensor>;
    },
  ): void {
    const seq = new Map<string, RowErrors>();
    let rows = 0;
    for (const name of captured.engine.keys()) {
      this.#engineKinds.add(parseTensorName(name).kind);
      if (!captured.reference.has(name)) this.#engineOnly.add(name);
    }
    for (const [name, ref] of captured.reference) {
      const eng = captured.engine.get(name);
      if (!eng) {
        seq.set(name, "missing");
        continue;
      }
      if (eng.data.length !== ref.data.length || ref.rows <= 0 || ref.data.length % ref.rows !== 0) {
        seq.set(name, "shape");
        continue;
      }
      let err = 0, norm = 0;
      for (let i = 0; i < ref.data.length; i++) {
        const d = ref.data[i] - eng.data[i];
        err += d * d;
        norm += ref.data[i] * ref.data[i];
      }
      seq.set(name, { rows: rowNmse(ref.data, eng.data, ref.rows), err, norm });
      rows = Math.max(rows, ref.rows);
    }
    this.#sequences.push(seq);
    this.#tokens += rows;
  }

  /** Replayed sequences so far. */
  get sequences(): number {
    return this.#sequences.length;
  }

  /**
   * Judge every op in graph order.
   *
   * @param ctx Layer count, thresholds, and what was replayed, for the record.
   * @returns The localization check.
   */
  result(ctx: LocalizationContext): LocalizationCheck {
    const loc = ctx.thresholds.localization;
    const tensors: LocalizedTensor[] = [];
    const not_compared: string[] = [];
    for (const name of graphOrder(ctx.nLayer)) {
      const { kind, layer } = parseTensorName(name);
      const tolerance = loc.new_error_row_nmse[kind] ?? 0;
      const per = this.#sequences.map((s) => s.get(name));
      if (per.every((e) => e === undefined)) {
        if (this.#engineOnly.has(name)) not_compared.push(name);
        continue;
      }
      const base = {
        name,
        layer,
        kind,
        tolerance,
        clean_rows: 0,
        new_error_rows: 0,
        nmse: null,
        row_nmse_median: null,
      };
      if (per.includes("missing")) {
        if (this.#engineKinds.has(kind)) tensors.push({ ...base, status: "missing_in_engine" });
        else not_compared.push(name);
        continue;
      }
      if (per.includes("shape")) {
        tensors.push({ ...base, status: "shape_mismatch" });
        continue;
      }
      let clean = 0, fresh = 0, cleanMax = -1;
      const all: number[] = [];
      let err = 0, norm = 0;
      for (const seq of this.#sequences) {
        const got = seq.get(name);
        if (typeof got !== "object") continue;
        err += got.err;
        norm += got.norm;
        const out = got.rows;
        const ins = inputsOf(name, (n) => seq.has(n));
        const rowsOf = (n: string) => {
          const e = seq.get(n);
          return typeof e === "object" ? e.rows : undefined;
        };
        const local = ins.rowLocal.map(rowsOf);
        const causal = ins.causal.map(rowsOf);
        // An input the reference did not provide cannot be proven clean: such rows are not judged.
        const usable = [...local, ...causal].every((x) => x !== undefined);
        let causalClean = true;
        for (let r = 0; r < out.length; r++) {
          all.push(out[r]);
          if (!usable) continue;
          for (const c of causal as Float64Array[]) if (!(c[r] <= loc.clean_row_nmse)) causalClean = false;
          const isClean = causalClean && (local as Float64Array[]).every((x) => x[r] <= loc.clean_row_nmse);
          if (!isClean) continue;
          clean++;
          cleanMax = Number.isNaN(out[r]) || cleanMax === Infinity ? Infinity : Math.max(cleanMax, out[r]);
          if (!(out[r] <= tolerance)) fresh++;
        }
      }
      const pooled = norm === 0 ? (err === 0 ? 0 : Infinity) : err / norm;
      tensors.push({
        ...base,
        nmse: Number.isFinite(pooled) ? pooled : null,
        row_nmse_median: median(all),
        clean_rows: clean,
        new_error_rows: fresh,
        clean_row_nmse_max: clean === 0 || !Number.isFinite(cleanMax) ? null : cleanMax,
        status: localizedStatus(clean, fresh, ctx.thresholds),
      });
    }
    const first = tensors.find((t) =>
      t.status === "exceeded" || t.status === "missing_in_engine" || t.status === "shape_mismatch"
    );
    return {
      status: first ? "fail" : "pass",
      reason: ctx.reason,
      prompt: ctx.prompt,
      n_tokens: this.#tokens,
      sequences: this.#sequences.length,
      tensors,
      not_compared,
      first_exceedance: first ?? null,
    };
  }
}

/**
 * Per-row NMSE of two row-major tensors.
 *
 * @param ref Reference values `[rows][cols]`.
 * @param x Values under test, same length.
 * @param rows Row count.
 * @returns One NMSE per row (NaN for a row with a NaN or infinite value).
 * @example
 * ```ts
 * import { rowNmse } from "./localize.ts";
 * console.log(rowNmse(Float32Array.of(1, 1, 2, 2), Float32Array.of(1, 1, 2, 3), 2)); // Float64Array [0, 0.125]
 * ```
 */
export function rowNmse(ref: Float32Array, x: Float32Array, rows: number): Float64Array {
  const cols = ref.length / rows;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let e = 0, n = 0;
    for (let i = r * cols; i < (r + 1) * cols; i++) {
      const d = ref[i] - x[i];
      e += d * d;
      n += ref[i] * ref[i];
    }
    out[r] = !Number.isFinite(e) || !Number.isFinite(n) ? NaN : n === 0 ? (e === 0 ? 0 : Infinity) : e / n;
  }
  return out;
}

function median(v: number[]): number | null {
  if (v.length === 0 || v.some(Number.isNaN)) return null;
  const s = Float64Array.from(v).sort();
  const m = s.length >> 1;
  const med = s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  return Number.isFinite(med) ? med : null;
}

/**
 * The record when localization could not run.
 *
 * @param reason Why.
 * @returns A `not_run` check.
 */
export function localizationNotRun(reason: string): LocalizationCheck {
  return {
    status: "not_run",
    reason,
    prompt: null,
    n_tokens: 0,
    sequences: 0,
    tensors: [],
    not_compared: [],
    first_exceedance: null,
  };
}
