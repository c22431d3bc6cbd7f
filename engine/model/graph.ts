/**
 * The shared building blocks of the decoder graphs, as llama.cpp keeps them in `src/llama-graph.cpp`
 * (`llm_graph_context`): {@link DecoderGraph} is the base each architecture file extends with its own `chunk`,
 * the forward pass of one batch written top to bottom. The blocks: the token embedding, RMS norms, matmul by
 * weight type (the activation quantizer and the kernel from `type_kernels.ts`), quantized-input reuse between
 * projections of one input, fused projections for single-token steps, the optional per-tensor `.scale`, the
 * Q/K/V projections with RoPE and causal attention over the KV cache, the gated FFN input projections, residual
 * adds, the output norm and matmul, and the per-tensor hook at every named intermediate.
 *
 * Numerics, chosen to match llama.cpp (docs/formats.md sections 1-3):
 * - TQ1_0/TQ2_0 projections quantize their input per 256-block to Q8_K exactly like `quantize_row_q8_K_ref`
 *   (ggml's `vec_dot_type` for TQ types), I2_S projections per token like bitnet.cpp (`quantize_row_i8_s`);
 * - the output matmul quantizes `result_norm` to its weight type's `vec_dot_type` (F16 -> F16, BF16 -> BF16,
 *   Q8_0 -> Q8_0, Q6_K -> Q8_K, F32 -> none);
 * - optional `.scale` tensors multiply the matmul result, before any activation (llama-graph.cpp build_lora_mm);
 * - KV cache in f32, attention without flash attention (what llama.cpp computes in parity mode), scaled by the
 *   architecture's `attnScale`;
 * - RoPE angles with glibc's `cosf`/`sinf` bit for bit (`rope.ts`). With the reference backend, which follows
 *   ggml's float order, the logits are bit-identical to llama.cpp's; any order difference matters because every
 *   matmul re-quantizes its input to int8, and a rounding flip there is amplified by the layers after it.
 *
 * Dimension letters: E = n_embd, F = n_ff, H = n_head, Hk = n_head_kv, D = head_dim, Q = H*D, Kv = Hk*D,
 * R = n_rot, V = n_vocab, T = tokens in the current chunk, B = max batch, C = context length.
 *
 * @module
 */

import type { GgufFile } from "../gguf/file.ts";
import type { KernelBackend, KernelId } from "../backends/backend.ts";
import {
  type NumericsProfile,
  PROFILE_KERNELS,
  type ProfileKernels,
  TYPE_KERNELS,
  type TypeKernels,
  typeKernels,
} from "../backends/type_kernels.ts";
import { type ActivationPrecision, kernelsAt } from "../backends/activation_precision.ts";
import type { GgmlTypeId } from "../quant/ggml_type.ts";
import { ggmlTypeInfo, ggmlTypeName } from "../quant/ggml_type.ts";
import { type ArenaTensor, type FusedProjection, PlacedWeights, type Projection } from "./arena.ts";
import type { ModelConfig } from "./config.ts";
import { checkManifest, type TensorSpec } from "./manifest.ts";
import { ropeTable } from "./rope.ts";
import { allocRunState, type RunState } from "./run_state.ts";

/**
 * Per-tensor hook: called with llama.cpp's name for an intermediate (`attn_norm-0`, `Qcur-0`, ..., `l_out-1`,
 * `result_norm`, `result_output`) and its values, row-major `[rows][cols]`. On a host-visible backend `data` is a
 * view into the arena that the next kernel overwrites: copy it to keep it.
 */
export type TensorHook = (name: string, data: Float32Array, info: TensorHookInfo) => void;

/** Shape of a hooked tensor. */
export interface TensorHookInfo {
  /** Rows (tokens). */
  readonly rows: number;
  /** Values per row. */
  readonly cols: number;
}

/** Which logits `forward` computes. */
export type LogitsMode = "last" | "all" | "none";

/** Options of {@link DecoderGraph.forward}. */
export interface ForwardOptions {
  /** `"last"` (default): logits of the last token; `"all"`: of every token; `"none"`: only fill the KV cache. */
  readonly logits?: LogitsMode;
  /** Destination for `"all"`: `[n][V]` floats; allocated when absent. */
  readonly out?: Float32Array;
}

/** Options every architecture's `load` takes. */
export interface LoadOptions {
  /** C: context length; default `min(n_ctx_train, 4096)`. */
  readonly nCtx?: number;
  /** B: most tokens per forward chunk (longer inputs are split); default 128. */
  readonly maxBatch?: number;
  /** Per-tensor hook with llama.cpp's intermediate names. */
  readonly onTensor?: TensorHook;
  /** Load progress: bytes of weights read so far and in total. */
  readonly onProgress?: (loaded: number, total: number) => void;
  /**
   * The kernel set (`type_kernels.ts`): `exact` (llama.cpp's x86 float order, bit for bit; the default here) or
   * `fast` (WebAssembly-native numerics, weights repacked at load). The backend must implement it
   * (`KernelBackend.numerics`); the engine resolves that before loading.
   */
  readonly numerics?: NumericsProfile;
  /**
   * How the ternary projections take their input (`engine/backends/activation_precision.ts`): `int8` (default,
   * the weight type's own activation quantization) or `float` (unquantized f32).
   */
  readonly activations?: ActivationPrecision;
}

/** One batch of tokens through the graph: tokens `[from, from + T)` at positions `pos0 ..`. */
export interface Chunk {
  /** The whole input. */
  readonly tokens: Int32Array;
  /** Index of the chunk's first token in `tokens` (its logits row in `out`). */
  readonly from: number;
  /** Tokens in the chunk. */
  readonly T: number;
  /** Position of the first token. */
  readonly pos0: number;
  /** Logits this chunk computes. */
  readonly mode: LogitsMode;
  /** Destination of `"all"` logits. */
  readonly out: Float32Array | undefined;
}

/** The attention tensors of one layer. */
export interface AttentionWeights {
  /** `[E, Q]` */
  readonly wq: Projection;
  /** `[E, Kv]` */
  readonly wk: Projection;
  /** `[E, Kv]` */
  readonly wv: Projection;
  /** Q, K and V back to back as one `[E, Q + 2Kv]` matrix, when their type allows (single-token steps). */
  readonly qkv?: FusedProjection;
}

/** The gated FFN input projections of one layer. */
export interface GateUpWeights {
  /** `[E, F]` */
  readonly ffnUp: Projection;
  /** `[E, F]` */
  readonly ffnGate: Projection;
  /** ffn_up then ffn_gate as one `[E, 2F]` matrix (as `qkv`). */
  readonly upGate?: FusedProjection;
}

/** What every model reports about its weights. */
export interface ModelSummary {
  /** Types of the block projections, upper case (`TQ2_0`; several when mixed). */
  readonly weightTypes: readonly string[];
  /** Type of `token_embd.weight`. */
  readonly embeddingType: string;
  /** Type of the output matrix (the embedding's when tied). */
  readonly outputType: string;
  /** True when logits come from `token_embd.weight` (no `output.weight`). */
  readonly tiedOutput: boolean;
  /** True when the file has per-tensor `.scale` tensors. */
  readonly hasScales: boolean;
  /** Bytes of weights in the arena. */
  readonly weightBytes: number;
  /** The kernel set the model runs with. */
  readonly numerics: NumericsProfile;
}

/** A model loaded into a backend: what the engine drives. */
export interface Model {
  /** Hyperparameters. */
  readonly config: ModelConfig;
  /** Preallocated buffers. */
  readonly state: RunState;
  /** The backend computing this model (the engine closes it). */
  readonly backend: KernelBackend;
  /** Facts about the weights. */
  readonly summary: ModelSummary;
  /**
   * Run tokens at positions `pos0 .. pos0 + n - 1`, writing their K/V into the cache.
   *
   * @returns `"last"`: `[V]` logits, valid until the next call (copy to keep); `"all"`: `[n][V]`; `"none"`: empty.
   */
  forward(tokens: Int32Array, pos0: number, opts?: ForwardOptions): Promise<Float32Array>;
}

/** The embedding and output tensors every decoder has. */
export interface OutputWeights {
  /** `[E, V]` token embedding. */
  readonly tokEmbd: ArenaTensor;
  /** `[E]` */
  readonly outputNorm: ArenaTensor;
  /** `[E, V]` the output matrix (`token_embd.weight` when tied). */
  readonly output: Projection;
}

/** What a {@link DecoderGraph} is built from: {@link loadDecoder}'s pieces, the config and the hook. */
export interface DecoderInit {
  /** Hyperparameters. */
  readonly config: ModelConfig;
  /** Preallocated buffers. */
  readonly state: RunState;
  /** The backend. */
  readonly backend: KernelBackend;
  /** Embedding and output tensors. */
  readonly io: OutputWeights;
  /** Facts about the weights. */
  readonly summary: ModelSummary;
  /** Per-tensor hook. */
  readonly onTensor: TensorHook | undefined;
  /** Activation precision of the ternary projections (default `int8`). */
  readonly activations?: ActivationPrecision;
}

/**
 * The base of every architecture's graph: the forward driver (validation, chunking by the batch size, the
 * logits of the requested rows) and the building blocks an architecture's {@link chunk} is written with.
 */
export abstract class DecoderGraph implements Model {
  /** Hyperparameters. */
  readonly config: ModelConfig;
  /** Preallocated buffers. */
  readonly state: RunState;
  /** The backend computing this model. */
  readonly backend: KernelBackend;
  /** Facts about the weights. */
  readonly summary: ModelSummary;
  /** Embedding and output tensors. */
  protected readonly io: OutputWeights;
  /** Activation precision of the ternary projections. */
  readonly activations: ActivationPrecision;
  /** Layer of the block being built (-1 outside the layers), for the hook names of matmul outputs. */
  protected layerIndex = -1;
  /** The kernel set (from the summary). */
  protected readonly numerics: NumericsProfile;
  /** The profile's kernels that do not depend on a weight type. */
  readonly #ops: ProfileKernels;
  readonly #onTensor: TensorHook | undefined;
  // The activation format the quantized buffer holds after the last matmul, so projections of one input (Q/K/V,
  // up/gate) quantize it once.
  #xqFormat: KernelId | undefined = undefined;
  #lastView: Float32Array | undefined;
  #lastHost: Float32Array | undefined;
  /** Host copy of a chunk's token ids, written to the arena's ids buffer. */
  readonly #idsHost: Int32Array;
  readonly #idsBytes: Uint8Array;
  /** Reads queued by hooks on a backend without a host-visible arena, settled after each chunk. */
  readonly #pending: Promise<() => void>[] = [];

  /**
   * @param init The loaded pieces.
   */
  protected constructor(init: DecoderInit) {
    this.config = init.config;
    this.state = init.state;
    this.backend = init.backend;
    this.io = init.io;
    this.summary = init.summary;
    this.numerics = init.summary.numerics;
    this.#ops = PROFILE_KERNELS[this.numerics];
    this.#onTensor = init.onTensor;
    this.activations = init.activations ?? "int8";
    this.#idsHost = new Int32Array(init.state.maxBatch);
    this.#idsBytes = new Uint8Array(this.#idsHost.buffer);
  }

  /**
   * The forward pass of one chunk (T <= B tokens), top to bottom: the architecture's graph.
   *
   * @param c The chunk.
   */
  protected abstract chunk(c: Chunk): void;

  /**
   * Run the model on tokens at positions `pos0 .. pos0 + n - 1`, writing their K/V into the cache. Inputs longer
   * than the batch size are processed in chunks.
   *
   * @param tokens Token ids.
   * @param pos0 Position of the first token (the number of tokens already in the cache).
   * @param opts Which logits to compute, and where to put them.
   * @returns `"last"`: a `[V]` array valid until the next call (copy to keep); `"all"`: `[n][V]` (`opts.out` when
   *   given); `"none"`: an empty array.
   * @throws {RangeError} When a token id is out of the vocabulary or the context would overflow.
   */
  async forward(tokens: Int32Array, pos0: number, opts: ForwardOptions = {}): Promise<Float32Array> {
    const cfg = this.config, st = this.state;
    const n = tokens.length;
    const mode = opts.logits ?? "last";
    if (n === 0) throw new RangeError("Cannot run forward on zero tokens: pass at least one token id");
    if (pos0 < 0 || pos0 + n > st.nCtx) {
      throw new RangeError(
        `Cannot run ${n} tokens at position ${pos0}: the context holds ${st.nCtx} tokens. ` +
          `Reset the sequence or load the model with a larger nCtx.`,
      );
    }
    for (let i = 0; i < n; i++) {
      const id = tokens[i];
      if (!(id >= 0 && id < cfg.nVocab)) {
        throw new RangeError(`Cannot run token id ${id} at index ${i}: the vocabulary has ids 0..${cfg.nVocab - 1}`);
      }
    }
    let out: Float32Array | undefined;
    if (mode === "all") {
      out = opts.out ?? new Float32Array(n * cfg.nVocab);
      if (out.length < n * cfg.nVocab) {
        throw new RangeError(`Cannot write ${n} logit rows into ${out.length} floats: pass at least ${n * cfg.nVocab}`);
      }
    }
    for (let from = 0; from < n; from += st.maxBatch) {
      const T = Math.min(st.maxBatch, n - from);
      const last = from + T === n;
      const chunkMode: LogitsMode = mode === "all" ? "all" : mode === "last" && last ? "last" : "none";
      this.chunk({ tokens, from, T, pos0: pos0 + from, mode: chunkMode, out });
      this.layerIndex = -1;
      if (this.#pending.length) await this.#settle();
    }
    if (mode === "last") return await this.#lastLogits();
    return out ?? new Float32Array(0);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Building blocks, in the order a decoder uses them.

  /** inp_embd = get_rows(token_embd, ids)  `[T][E]` into `state.x`. */
  protected embed(c: Chunk): void {
    this.layerIndex = -1;
    const st = this.state, be = this.backend, E = this.config.nEmbd, ids = this.#idsHost;
    for (let i = 0; i < c.T; i++) ids[i] = c.tokens[c.from + i];
    be.write(st.ids, this.#idsBytes.subarray(0, 4 * c.T));
    be.run(typeKernels(this.io.tokEmbd.type, this.numerics).getRows!, this.io.tokEmbd.ptr, st.ids, st.x, E, c.T);
    this.hook("inp_embd", st.x, c.T, E);
  }

  /** `y = rms_norm(x) * w` over `rows` rows of `K`, then the hook `name` (with the layer suffix inside a layer). */
  protected norm(x: number, w: ArenaTensor, y: number, K: number, rows: number, name: string): void {
    this.backend.run("rms_norm", x, w.ptr, y, K, rows, this.config.rmsEps);
    this.hook(this.#named(name), y, rows, K);
  }

  /**
   * `y = W·x` (then `* scale` when the projection has one). `x` `[rows][K]` is first quantized to W's activation
   * format, unless `sameInput` says it is the previous matmul's input and the quantized buffer already holds that
   * format. `y` is `[rows][N]`. When `name` is given the output is hooked as `name` (and `name_s` after the scale).
   */
  protected matmul(p: Projection, x: number, rows: number, y: number, sameInput: boolean, name?: string): void {
    const w = p.w, K = w.shape[0], N = w.shape[1];
    const kind = this.#kernels(w.type);
    const xq = kind.quantize ? this.#quantizeInput(kind.quantize, x, rows, K, sameInput) : x;
    this.backend.run(kind.gemm, w.ptr, xq, y, N, K, rows);
    this.#scale(p, y, rows, N, name);
  }

  /**
   * One token through a fused group (its parts placed back to back as `f.w`): quantize `x` `[K]` once, one matmul
   * into `y` `[sum of N]`, then each part's `.scale` on its slice of `y` (hooks named `names`, as {@link matmul}).
   */
  protected fusedMatmul(f: FusedProjection, x: number, y: number, names?: readonly string[]): void {
    const w = f.w, K = w.shape[0], N = w.shape[1];
    const kind = this.#kernels(w.type);
    const xq = kind.quantize ? this.#quantizeInput(kind.quantize, x, 1, K, false) : x;
    this.backend.run(kind.gemm, w.ptr, xq, y, N, K, 1);
    let at = y;
    for (let i = 0; i < f.parts.length; i++) {
      const p = f.parts[i], n = p.w.shape[1];
      this.#scale(p, at, 1, n, names?.[i]);
      at += n * 4;
    }
  }

  /**
   * Self-attention up to `kqv_out` (llama.cpp's build_qkv, ggml_rope_ext on Q and K, build_attn_mha): Qcur =
   * Wq·cur, Kcur and Vcur straight into this layer's cache rows (a single token: one matmul over Q, K and V placed
   * back to back, then K and V copied into the cache), RoPE of the architecture's pairing on Q and K, then
   * `softmax(Q·Kᵀ * attnScale + causal mask)·V` over cache rows 0..pos. Reads `state.cur`.
   *
   * @returns The `[T][Q]` attention output (`state.kqv`).
   */
  protected selfAttention(il: number, ly: AttentionWeights, c: Chunk): number {
    const cfg = this.config, st = this.state, be = this.backend, T = c.T;
    const H = cfg.nHead, Hk = cfg.nHeadKv, D = cfg.headDim, R = cfg.nRot, Q = H * D, Kv = Hk * D;
    const kRows = st.kCache[il] + c.pos0 * Kv * 4, vRows = st.vCache[il] + c.pos0 * Kv * 4;
    let q = st.q;
    if (T === 1 && ly.qkv) {
      q = st.qkv;
      this.fusedMatmul(ly.qkv, st.cur, st.qkv);
      be.run("copy", st.qkv + Q * 4, kRows, Kv * 4);
      be.run("copy", st.qkv + (Q + Kv) * 4, vRows, Kv * 4);
    } else {
      this.matmul(ly.wq, st.cur, T, st.q, false);
      this.matmul(ly.wk, st.cur, T, kRows, true);
      this.matmul(ly.wv, st.cur, T, vRows, true);
    }
    // RoPE on Qcur and Kcur, angles of positions pos0 .. pos0+T-1
    const rope: KernelId = cfg.ropeType === "neox" ? "rope.neox" : "rope.norm";
    const ropeRows = st.rope + c.pos0 * R * 4;
    be.run(rope, q, ropeRows, T, H, D, R);
    be.run(rope, kRows, ropeRows, T, Hk, D, R);
    this.hook(`Qcur-${il}`, q, T, Q);
    this.hook(`Kcur-${il}`, kRows, T, Kv);
    this.hook(`Vcur-${il}`, vRows, T, Kv);
    be.run(
      this.#ops.attention,
      q,
      st.kCache[il],
      st.vCache[il],
      st.kqv,
      st.attnScratch,
      T,
      c.pos0,
      H,
      Hk,
      D,
      st.nCtx,
      cfg.attnScale,
    );
    this.hook(`kqv_out-${il}`, st.kqv, T, Q);
    return st.kqv;
  }

  /**
   * Rows that go on after attention in layer `il`: all of them, except in the last layer, where only the rows
   * whose logits are wanted continue (llama.cpp's `inp_out_ids`): 1 for `"last"`, 0 for `"none"`.
   */
  protected rowsAfterAttention(il: number, c: Chunk): number {
    return il < this.config.nLayer - 1 || c.mode === "all" ? c.T : c.mode === "last" ? 1 : 0;
  }

  /**
   * ffn_up = Wup·cur, ffn_gate = Wgate·cur over `rows` rows of `state.cur` (a single row: one matmul over up and
   * gate placed back to back), hooked as `ffn_up`/`ffn_gate` (and their `_s` after a scale).
   *
   * @returns Pointers of the `[rows][F]` up and gate outputs.
   */
  protected gateUp(ly: GateUpWeights, rows: number): { readonly up: number; readonly gate: number } {
    const st = this.state;
    if (rows === 1 && ly.upGate) {
      this.fusedMatmul(ly.upGate, st.cur, st.upGate, ["ffn_up", "ffn_gate"]);
      return { up: st.upGate, gate: st.upGate + this.config.nFf * 4 };
    }
    this.matmul(ly.ffnUp, st.cur, rows, st.up, false, "ffn_up");
    this.matmul(ly.ffnGate, st.cur, rows, st.gate, true, "ffn_gate");
    return { up: st.up, gate: st.gate };
  }

  /** `y = silu(gate) * up` or `relu(gate)^2 * up` over `n` values, hooked as `name`. */
  protected glu(activation: "silu" | "relu2", gate: number, up: number, y: number, rows: number, name: string): void {
    const F = this.config.nFf;
    this.backend.run(activation === "relu2" ? "relu2_glu" : this.#ops.swiglu, gate, up, y, rows * F);
    this.hook(this.#named(name), y, rows, F);
  }

  /** `y = a + b` over `rows` rows of E, hooked as `name`. */
  protected add(a: number, b: number, y: number, rows: number, name: string): void {
    const E = this.config.nEmbd;
    this.backend.run("add", a, b, y, rows * E);
    this.hook(this.#named(name), y, rows, E);
  }

  /**
   * result_norm = rms_norm(x) * output_norm; result_output = output·result_norm over the chunk's logits rows
   * (`[rows][E]`, `[rows][V]`), written to `out` rows from the chunk's first token (`"all"`) or left in
   * `state.logits` (`"last"`).
   */
  protected output(c: Chunk): void {
    this.layerIndex = -1;
    if (c.mode === "none") return;
    const st = this.state, E = this.config.nEmbd, V = this.config.nVocab;
    const rows = c.mode === "all" ? c.T : 1;
    this.norm(st.x, this.io.outputNorm, st.cur, E, rows, "result_norm");
    for (let r = 0, n = 0; r < rows; r += n) {
      // Never leave a single trailing row: ggml computes a batch of rows in another order than one row.
      n = Math.min(st.logitRows, rows - r);
      if (rows - r - n === 1 && n > 2) n--;
      this.matmul(this.io.output, st.cur + r * E * 4, n, st.logits, false);
      if (c.out) this.#readF32(st.logits, c.out.subarray((c.from + r) * V, (c.from + r + n) * V));
      if (this.#onTensor && rows === n) this.hook("result_output", st.logits, n, V);
    }
    const hook = this.#onTensor;
    if (hook && c.out && rows > st.logitRows) {
      // The whole logits tensor is only complete in `out`: hook it from there (after the reads, off the host).
      const all = c.out.subarray(c.from * V, (c.from + rows) * V);
      const call = () => hook("result_output", all, { rows, cols: V });
      if (this.backend.hostBuffer) call();
      else this.#pending.push(Promise.resolve(call));
    }
  }

  /**
   * Call the tensor hook with a view of a host-visible arena; on another backend, read the tensor now (a read
   * returns the bytes as of its place in the queue) and call the hook when the chunk's reads settle.
   */
  protected hook(name: string, ptr: number, rows: number, cols: number): void {
    const hook = this.#onTensor;
    if (!hook) return;
    const host = this.backend.hostBuffer;
    if (host) {
      hook(name, new Float32Array(host, ptr, rows * cols), { rows, cols });
      return;
    }
    this.#pending.push(
      this.backend.read(ptr, rows * cols * 4).then((b) => () =>
        hook(name, new Float32Array(b.buffer, b.byteOffset, rows * cols), { rows, cols })
      ),
    );
  }

  // -------------------------------------------------------------------------------------------------------------

  /** The kernels of a weight type at this model's activation precision. */
  #kernels(type: GgmlTypeId): TypeKernels {
    return kernelsAt(type, this.activations, this.numerics);
  }

  #named(name: string): string {
    return this.layerIndex >= 0 ? `${name}-${this.layerIndex}` : name;
  }

  /** Quantize `rows` rows at `x` into the shared `xq` buffer (skipped when `sameInput` and already done). */
  #quantizeInput(quant: KernelId, x: number, rows: number, K: number, sameInput: boolean): number {
    const xq = this.state.xq;
    if (sameInput && this.#xqFormat === quant) return xq;
    this.backend.run(quant, x, xq, K, rows);
    this.#xqFormat = quant;
    return xq;
  }

  /** A projection's optional `.scale` on its output `[rows][N]`, with the hooks before and after it. */
  #scale(p: Projection, y: number, rows: number, N: number, name?: string): void {
    if (name) this.hook(this.#named(name), y, rows, N);
    if (!p.scale) return;
    this.backend.run("mul_scalar", y, p.scale.ptr, y, rows * N);
    if (name) this.hook(this.#named(`${name}_s`), y, rows, N);
  }

  /** Copy `dst.length` floats at `ptr` into `dst` (when the chunk's reads settle, off a non-host arena). */
  #readF32(ptr: number, dst: Float32Array): void {
    const host = this.backend.hostBuffer;
    if (host) {
      dst.set(new Float32Array(host, ptr, dst.length));
      return;
    }
    const into = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
    this.#pending.push(this.backend.read(ptr, dst.byteLength, into).then(() => () => {}));
  }

  /** Wait for the chunk's reads and run their hooks in graph order. */
  async #settle(): Promise<void> {
    const done = await Promise.all(this.#pending);
    this.#pending.length = 0;
    for (const call of done) call();
  }

  /** Logits of the last row: a view of a host-visible arena, else a copy into a buffer reused across calls. */
  async #lastLogits(): Promise<Float32Array> {
    const host = this.backend.hostBuffer, V = this.config.nVocab;
    if (host) {
      if (!this.#lastView || this.#lastView.buffer !== host) {
        this.#lastView = new Float32Array(host, this.state.logits, V);
      }
      return this.#lastView;
    }
    this.#lastHost ??= new Float32Array(V);
    await this.backend.read(this.state.logits, V * 4, new Uint8Array(this.#lastHost.buffer));
    return this.#lastHost;
  }
}

/** What {@link loadDecoder} prepares for an architecture's graph. */
export interface LoadedDecoder {
  /** The placed weights. */
  readonly weights: PlacedWeights;
  /** The run state. */
  readonly state: RunState;
  /** Embedding, output norm and output matrix. */
  readonly io: OutputWeights;
  /** Facts about the weights. */
  readonly summary: ModelSummary;
}

/**
 * The load every decoder shares: check the file against the manifest (every problem named), place the weights
 * and the run state in the arena, read the weights, and write the RoPE table (with `rope_freqs.weight` when the
 * file has it).
 *
 * @param file The open GGUF file.
 * @param backend The backend whose arena receives the model.
 * @param cfg Hyperparameters read from the file.
 * @param manifest The architecture's manifest for `cfg`.
 * @param opts Context, batch, progress, and whether the architecture has sub-norms.
 * @returns The pieces of a {@link DecoderGraph}.
 * @throws {RangeError} When a tensor is missing, mis-shaped, of an unsupported type or not a whole number of
 *   blocks (the message names every such tensor), or an option is out of range.
 */
export function loadDecoder(
  file: GgufFile,
  backend: KernelBackend,
  cfg: ModelConfig,
  manifest: readonly TensorSpec[],
  opts: LoadOptions & { readonly subNorms: boolean },
): LoadedDecoder {
  checkTensors(file, cfg, manifest);
  if (opts.activations === "float") {
    // Refuse before any weight is read: float activations need an f32-input matmul for every ternary type.
    for (const m of manifest) {
      const t = m.role === "ternary" ? file.tensor(m.name) : undefined;
      if (!t) continue;
      try {
        kernelsAt(t.type, "float");
      } catch (e) {
        throw new RangeError(`Cannot load "${file.path}" with float activations: ${(e as Error).message}`);
      }
    }
  }
  const nCtx = opts.nCtx ?? Math.min(cfg.nCtxTrain, 4096);
  const maxBatch = opts.maxBatch ?? 128;
  if (!Number.isInteger(nCtx) || nCtx < 1) {
    throw new RangeError(`Cannot load "${file.path}" with nCtx=${nCtx}: pass a positive integer`);
  }
  if (!Number.isInteger(maxBatch) || maxBatch < 1) {
    throw new RangeError(`Cannot load "${file.path}" with maxBatch=${maxBatch}: pass a positive integer`);
  }
  const numerics = opts.numerics ?? "exact";
  // Every weight first (the arena may grow on each alloc), then the run state, then the bytes.
  const weights = PlacedWeights.place(file, backend, manifest, numerics);
  const tokEmbd = weights.get("token_embd.weight");
  const outputW = weights.optional("output.weight");
  const multiplied = manifest.filter((m) => m.role === "ternary" && file.tensor(m.name)).map((m) =>
    file.tensor(m.name)!.type
  );
  const state = allocRunState(cfg, backend, {
    nCtx,
    maxBatch: Math.min(maxBatch, nCtx),
    weightTypes: [...new Set([...multiplied, (outputW ?? tokEmbd).type])],
    subNorms: opts.subNorms,
    numerics,
  });
  weights.read(file, backend, opts.onProgress);
  const freqs = file.tensor("rope_freqs.weight");
  const rope = ropeTable(new Float32Array(nCtx * cfg.nRot), {
    nRot: cfg.nRot,
    freqBase: cfg.ropeFreqBase,
    freqScale: cfg.ropeFreqScale,
    attnFactor: cfg.ropeAttnFactor,
    ...(freqs
      ? { freqFactors: new Float32Array(file.readTensor(freqs.name, new Uint8Array(freqs.byteLength)).buffer) }
      : {}),
  });
  backend.write(state.rope, new Uint8Array(rope.buffer));
  const io: OutputWeights = {
    tokEmbd,
    outputNorm: weights.get("output_norm.weight"),
    output: { w: outputW ?? tokEmbd },
  };
  const summary: ModelSummary = {
    weightTypes: weights.typeNames("ternary"),
    embeddingType: ggmlTypeName(tokEmbd.type),
    outputType: ggmlTypeName((outputW ?? tokEmbd).type),
    tiedOutput: outputW === undefined,
    hasScales: weights.typeNames("scale").length > 0,
    weightBytes: weights.bytes,
    numerics,
  };
  return { weights, state, io, summary };
}

/** Fail at load, naming every tensor that is missing, mis-shaped, of an unsupported type or a partial block. */
function checkTensors(file: GgufFile, cfg: ModelConfig, manifest: readonly TensorSpec[]): void {
  const problems = checkManifest(file.tensors, manifest).filter((p) => p.kind !== "extra");
  if (problems.length) {
    throw new RangeError(
      `Cannot load "${file.path}": ${problems.length} tensor problem(s): ${
        problems.map((p) => p.message).join("; ")
      }. ` +
        `The file is not a complete ${cfg.arch} model; re-create or re-fetch it (crossval inspect shows details).`,
    );
  }
  for (const spec of manifest) {
    const t = file.tensor(spec.name);
    if (!t || (spec.role !== "ternary" && spec.role !== "embedding" && spec.role !== "output")) continue;
    const block = ggmlTypeInfo(t.type)!.blockSize, k = t.shape[0];
    if (k % block !== 0) {
      throw new RangeError(
        `Cannot load "${file.path}": ${t.name} is ${ggmlTypeName(t.type)} with rows of ${k} values, ` +
          `not a multiple of its block size ${block}`,
      );
    }
    if (spec.role === "embedding" && !TYPE_KERNELS.exact.get(t.type)?.getRows) {
      throw new RangeError(
        `Cannot load "${file.path}": token_embd.weight has unsupported type ${ggmlTypeName(t.type)}`,
      );
    }
  }
}
