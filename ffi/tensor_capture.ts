/**
 * Per-tensor capture through llama.cpp's graph evaluation callback (`llama_context_params.cb_eval`, type
 * `ggml_backend_sched_eval_callback` in `ggml/include/ggml-backend.h`). The scheduler calls it twice per graph
 * node: with `ask = true` ("do you want this tensor?") and, for the nodes we wanted, with `ask = false` once the
 * node is computed, so its data can be copied out with `ggml_backend_tensor_get`
 * (`ggml_backend_sched_compute_splits`, `ggml/src/ggml-backend.cpp`). Both calls happen on the thread that
 * called `llama_decode` (the scheduler runs there; CPU worker threads only execute the nodes), which is what
 * makes a plain, non-thread-safe `Deno.UnsafeCallback` correct; `ffi/bridge_eval_test.ts` checks the thread id.
 *
 * Names follow llama.cpp's graph (`src/models/bitnet.cpp`, `llm_graph_context::cb`): `<name>-<layer>` for
 * per-layer tensors (`attn_norm-0`, `attn_sub_norm-1`, `ffn_sub_norm-0`, `l_out-3`), plain names otherwise
 * (`result_norm`, `result_output`). The graph names a value at each stage, so one name can label several nodes
 * (`Qcur-0` after the projection, the reshape and RoPE); the capture keeps the last one, the value the next
 * operation consumes. Views get suffixes (`Kcur-0 (view)`, `... (permuted)`); non-contiguous ones are skipped.
 *
 * @module
 */

import { fieldOf, GGML_TENSOR } from "./struct_layout.ts";
import type { LlamaSymbols } from "./_symbols.ts";

/** Which tensors to capture: exact names, a pattern, or a predicate. */
export type TensorFilter = readonly string[] | RegExp | ((name: string) => boolean);

/** A tensor copied out of the graph, converted to float32. */
export interface CapturedTensor {
  /** Graph name, e.g. `l_out-3`. */
  readonly name: string;
  /** ggml type name of the source tensor (`f32`, `f16`, `bf16`). */
  readonly type: string;
  /** Dimensions in ggml order (ne0 first, innermost), trailing 1s dropped (at least one). */
  readonly shape: readonly number[];
  /** Values in ggml memory order: `data[i0 + ne0 * (i1 + ne1 * ...)]`. Owned by the caller. */
  readonly data: Float32Array;
}

/** Everything one capture produced (one graph: the whole input in one micro-batch). */
export interface CaptureResult {
  /** Captured tensors by name; a name given to several nodes holds the last one computed. */
  readonly tensors: ReadonlyMap<string, CapturedTensor>;
  /** Names that matched the filter but could not be converted (quantized or non-contiguous), with the reason. */
  readonly skipped: ReadonlyMap<string, string>;
}

const OFF_TYPE = fieldOf(GGML_TENSOR, "type").offset;
const OFF_NE = fieldOf(GGML_TENSOR, "ne").offset;
const OFF_NAME = fieldOf(GGML_TENSOR, "name").offset;
/** `enum ggml_type` values (`ggml/include/ggml.h`). */
const GGML_F32 = 0, GGML_F16 = 1, GGML_BF16 = 30;

function matcher(filter: TensorFilter): (name: string) => boolean {
  if (typeof filter === "function") return filter;
  if (filter instanceof RegExp) return (n) => (filter.lastIndex = 0, filter.test(n));
  const set = new Set(filter);
  return (n) => set.has(n);
}

/** IEEE half to float (exact). */
function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * The state behind one context's `cb_eval`: idle unless a capture is armed, so a context created with capture
 * support costs one cheap JavaScript call per graph node when nothing is captured.
 * Internal to `ffi/`; `CppModel.eval(ids, { capture })` is the public way in.
 */
export class TensorCapture {
  readonly #s: LlamaSymbols;
  readonly #callback: Deno.UnsafeCallback<
    { readonly parameters: readonly ["pointer", "bool", "pointer"]; readonly result: "bool" }
  >;
  #want: ((name: string) => boolean) | null = null;
  #tensors = new Map<string, CapturedTensor>();
  #skipped = new Map<string, string>();
  #error: unknown = null;

  /**
   * Create the callback (not yet installed anywhere).
   *
   * @param symbols Resolved library symbols.
   */
  constructor(symbols: LlamaSymbols) {
    this.#s = symbols;
    this.#callback = new Deno.UnsafeCallback(
      { parameters: ["pointer", "bool", "pointer"], result: "bool" } as const,
      (t: Deno.PointerValue, ask: boolean): boolean => {
        if (!this.#want || !t) return ask ? false : true;
        try {
          const name = Deno.UnsafePointerView.getCString(t, OFF_NAME);
          if (ask) return this.#want(name);
          this.#copy(t, name);
        } catch (e) {
          // Never throw across the C boundary: remember and rethrow after llama_decode returns.
          this.#error ??= e;
        }
        return true;
      },
    );
  }

  /** Function pointer for `cb_eval`. */
  get pointer(): Deno.PointerObject {
    return this.#callback.pointer;
  }

  /**
   * Start capturing tensors whose names pass `filter`.
   *
   * @param filter Names, pattern or predicate.
   */
  arm(filter: TensorFilter): void {
    this.#want = matcher(filter);
    this.#tensors = new Map();
    this.#skipped = new Map();
    this.#error = null;
  }

  /**
   * Stop capturing and hand over what was captured.
   *
   * @returns The captured tensors.
   * @throws {Error} When copying a tensor failed inside the callback.
   */
  disarm(): CaptureResult {
    this.#want = null;
    const err = this.#error;
    this.#error = null;
    if (err) throw new Error(`Tensor capture failed: ${(err as Error).message ?? err}`, { cause: err });
    return { tensors: this.#tensors, skipped: this.#skipped };
  }

  #copy(t: Deno.PointerObject, name: string): void {
    const view = new Deno.UnsafePointerView(t);
    const type = view.getInt32(OFF_TYPE);
    const ne = [0, 1, 2, 3].map((i) => Number(view.getBigInt64(OFF_NE + 8 * i)));
    const typeName = Deno.UnsafePointerView.getCString(this.#s.base.ggml_type_name(type)!);
    // A later node with the same name supersedes an earlier one (see the module note on stages).
    if (type !== GGML_F32 && type !== GGML_F16 && type !== GGML_BF16) {
      this.#tensors.delete(name);
      this.#skipped.set(name, `type ${typeName} is not a float type`);
      return;
    }
    if (!this.#s.base.ggml_is_contiguous(t)) {
      this.#tensors.delete(name);
      this.#skipped.set(name, "tensor is not contiguous");
      return;
    }
    const n = ne[0] * ne[1] * ne[2] * ne[3];
    const nbytes = Number(this.#s.base.ggml_nbytes(t));
    let data: Float32Array;
    if (type === GGML_F32) {
      data = new Float32Array(n);
      this.#s.base.ggml_backend_tensor_get(t, data, 0n, BigInt(nbytes));
    } else {
      const raw = new Uint16Array(n);
      this.#s.base.ggml_backend_tensor_get(t, raw, 0n, BigInt(nbytes));
      data = new Float32Array(n);
      if (type === GGML_F16) { for (let i = 0; i < n; i++) data[i] = f16ToF32(raw[i]); }
      else {
        const u32 = new Uint32Array(data.buffer);
        for (let i = 0; i < n; i++) u32[i] = raw[i] << 16;
      }
    }
    const shape = ne.slice();
    while (shape.length > 1 && shape[shape.length - 1] === 1) shape.pop();
    this.#skipped.delete(name);
    this.#tensors.set(name, { name, type: typeName, shape, data });
  }

  /** Release the callback; only after the context that uses it is freed. */
  close(): void {
    this.#callback.close();
  }
}
