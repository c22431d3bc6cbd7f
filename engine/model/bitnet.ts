/**
 * The BitNet forward pass (`bitnet`: llama.cpp's `src/models/bitnet.cpp`; `bitnet-b1.58`: the same graph with a
 * squared-ReLU gate, as BitNet b1.58 2B4T). A model is {@link BitnetConfig} + {@link BitnetWeights} (tensors read
 * once into the backend arena) + a {@link RunState} (every buffer preallocated at load: `forward` allocates nothing
 * per token).
 *
 * Numerics, chosen to match llama.cpp (docs/formats.md sections 1-3):
 * - TQ1_0/TQ2_0 projections quantize their input per 256-block to Q8_K exactly like `quantize_row_q8_K_ref`
 *   (ggml's `vec_dot_type` for TQ types), I2_S projections per token like bitnet.cpp (`quantize_row_i8_s`);
 * - the tied output matmul quantizes `result_norm` to the embedding type's `vec_dot_type`: F16 -> F16, BF16 -> BF16,
 *   Q8_0 -> Q8_0, Q6_K -> Q8_K, F32 -> none;
 * - optional `.scale` tensors multiply the matmul result, before any activation (llama-graph.cpp build_lora_mm);
 * - KV cache in f32, attention without flash attention (what llama.cpp computes in parity mode);
 * - RoPE angles with glibc's `cosf`/`sinf` bit for bit (`sincosf.ts`), the attention scale as
 *   `1.0f/sqrtf(head_dim)`. With the reference backend, which also follows ggml's float order, the logits are
 *   bit-identical to llama.cpp's; any order difference matters because every matmul re-quantizes its input to
 *   int8, and a rounding flip there is amplified by the layers after it.
 *
 * Dimension letters: E = n_embd, F = n_ff, H = n_head, Hk = n_head_kv, D = head_dim, R = n_rot, V = n_vocab,
 * T = tokens in the current chunk, B = max batch, C = context length (KV cache rows), Kv = Hk*D.
 *
 * @module
 */

import type { GgufFile } from "../gguf/file.ts";
import { activationRowBytes, GgmlType, ggmlTypeInfo, ggmlTypeName } from "../quant/ggml_type.ts";
import { TYPE_KERNELS, typeKernels } from "../backends/type_kernels.ts";
import type { KernelBackend, KernelId } from "../backends/backend.ts";
import { type BitnetConfig, configFromGguf } from "./config.ts";
import { bitnetManifest, projections, validateTensors } from "./manifest.ts";
import { ropeTable } from "./rope.ts";
import {
  type Faults,
  flipFirstNonZero,
  type ProjectionName,
  quantizeRowQ8KPerToken,
  ropeNormInPlace,
  validateFaults,
} from "./faults.ts";

/**
 * Per-tensor hook: called with llama.cpp's name for an intermediate (`attn_norm-0`, `Qcur-0`, ..., `l_out-1`,
 * `result_norm`, `result_output`) and its values, row-major `[rows][cols]`. `data` is a view into the arena that
 * is overwritten by the next kernel: copy it to keep it.
 */
export type TensorHook = (name: string, data: Float32Array, info: TensorHookInfo) => void;

/** Shape of a hooked tensor. */
export interface TensorHookInfo {
  /** Rows (tokens). */
  readonly rows: number;
  /** Values per row. */
  readonly cols: number;
}

/** A tensor placed in the arena. */
export interface ArenaTensor {
  /** GGUF name. */
  readonly name: string;
  /** GGML type id. */
  readonly type: number;
  /** GGML shape (`[ne0, ne1]` = `[K, N]` for matrices). */
  readonly shape: readonly number[];
  /** Byte offset in the arena. */
  readonly ptr: number;
  /** Byte size. */
  readonly bytes: number;
}

/** A projection and its optional per-tensor scale. */
export interface Projection {
  /** The ternary weight `[K, N]`. */
  readonly w: ArenaTensor;
  /** The `{1}` scale tensor, if the file has one. */
  readonly scale?: ArenaTensor;
}

/** Projections of one input placed back to back in the arena: one matrix, one matmul for a single token. */
export interface FusedProjection {
  /** The parts as one `[K, sum of N]` matrix. */
  readonly w: ArenaTensor;
  /** The parts, in output order (their scales apply to their slices of the output). */
  readonly parts: readonly Projection[];
}

/** One transformer block's tensors. */
export interface BitnetLayer {
  /** `[E]` */
  readonly attnNorm: ArenaTensor;
  /** `[E, E]` */
  readonly wq: Projection;
  /** `[E, Kv]` */
  readonly wk: Projection;
  /** `[E, Kv]` */
  readonly wv: Projection;
  /** `[E]` */
  readonly attnSubNorm: ArenaTensor;
  /** `[E, E]` */
  readonly wo: Projection;
  /** `[E]` */
  readonly ffnNorm: ArenaTensor;
  /** `[E, F]` */
  readonly ffnGate: Projection;
  /** `[E, F]` */
  readonly ffnUp: Projection;
  /** `[F]` */
  readonly ffnSubNorm: ArenaTensor;
  /** `[F, E]` */
  readonly ffnDown: Projection;
  /**
   * Q, K and V as one `[E, E + 2Kv]` matrix: the three tensors placed back to back in the arena (TQ1_0/TQ2_0, whose
   * rows are independent blocks), so that a single-token step computes them with one matmul dispatch.
   */
  readonly qkv?: FusedProjection;
  /** ffn_up then ffn_gate as one `[E, 2F]` matrix (as `qkv`). */
  readonly upGate?: FusedProjection;
}

/** All weights, as views into the arena. */
export interface BitnetWeights {
  /** `[E, V]`, also the tied output matrix. */
  readonly tokEmbd: ArenaTensor;
  /** `[E]` */
  readonly outputNorm: ArenaTensor;
  /** Blocks in order. */
  readonly layers: readonly BitnetLayer[];
  /** Total weight bytes in the arena. */
  readonly bytes: number;
}

/** Preallocated buffers (byte offsets into the arena). */
export interface RunState {
  /** B: most tokens per forward chunk. */
  readonly maxBatch: number;
  /** C: context length (KV cache rows). */
  readonly nCtx: number;
  /** Most logits rows computed per output matmul. */
  readonly logitRows: number;
  /** `[B]` i32 token ids. */
  readonly ids: number;
  /** `[B][E]` residual stream (inp_embd, then l_out). */
  readonly x: number;
  /** `[B][E]` normed input of a block half (attn_norm, ffn_norm, result_norm). */
  readonly cur: number;
  /** `[B][E]` Qcur. */
  readonly q: number;
  /** `[E + 2Kv]` Qcur, Kcur, Vcur of a single-token step (the fused Q/K/V matmul's output). */
  readonly qkv: number;
  /** `[2F]` ffn_up, ffn_gate of a single-token step (the fused up/gate matmul's output). */
  readonly upGate: number;
  /** `[B][E]` kqv_out. */
  readonly kqv: number;
  /** `[B][E]` attn_sub_norm. */
  readonly sub: number;
  /** `[B][E]` attn_out. */
  readonly attnOut: number;
  /** `[B][E]` ffn_inp. */
  readonly ffnInp: number;
  /** `[B][F]` ffn_up. */
  readonly up: number;
  /** `[B][F]` ffn_gate. */
  readonly gate: number;
  /** `[B][F]` gated activation (ffn_sub_out). */
  readonly act: number;
  /** `[B][F]` ffn_sub_norm. */
  readonly actNorm: number;
  /** `[B][E]` ffn_down. */
  readonly down: number;
  /** Quantized activations, `B` rows of the largest K. */
  readonly xq: number;
  /** `[logitRows][V]` result_output. */
  readonly logits: number;
  /** Per layer `[C][Kv]` f32 K cache. */
  readonly kCache: readonly number[];
  /** Per layer `[C][Kv]` f32 V cache. */
  readonly vCache: readonly number[];
  /** `[C+1][R]` RoPE table (one extra row for the positionOffByOne fault). */
  readonly rope: number;
  /** The attention kernel's scratch (as many bytes as the backend asks for, `scratchBytes`). */
  readonly attnScratch: number;
  /** Total run-state bytes. */
  readonly bytes: number;
}

/** Which logits `forward` computes. */
export type LogitsMode = "last" | "all" | "none";

/** Options of {@link BitnetModel.load}. */
export interface BitnetLoadOptions {
  /** C: context length; default `min(n_ctx_train, 4096)`. */
  readonly nCtx?: number;
  /** B: most tokens per forward chunk (longer inputs are split); default 128. */
  readonly maxBatch?: number;
  /** Per-tensor hook with llama.cpp's intermediate names. */
  readonly onTensor?: TensorHook;
  /** TEST-ONLY fault injection (see faults.ts); default none. */
  readonly faults?: Faults;
  /** Load progress: bytes of weights read so far and in total. */
  readonly onProgress?: (loaded: number, total: number) => void;
}

/** Options of {@link BitnetModel.forward}. */
export interface ForwardOptions {
  /** `"last"` (default): logits of the last token; `"all"`: of every token; `"none"`: only fill the KV cache. */
  readonly logits?: LogitsMode;
  /** Destination for `"all"`: `[n][V]` floats; allocated when absent. */
  readonly out?: Float32Array;
}

const Q8K_ROW = (k: number): number => activationRowBytes("q8_k", k);

/** Weight types whose rows are independent blocks, so that tensors placed back to back form one matrix. */
const ROW_BLOCK_TYPES: ReadonlySet<number> = new Set([GgmlType.TQ1_0, GgmlType.TQ2_0]);

/** Projections fused for single-token steps: same input, outputs concatenated in this order. */
const FUSED: readonly { readonly name: string; readonly parts: readonly string[] }[] = [
  { name: "attn_qkv", parts: ["attn_q", "attn_k", "attn_v"] },
  { name: "ffn_up_gate", parts: ["ffn_up", "ffn_gate"] },
];

/** The fused matrix of `group` in layer `il`, when its parts lie back to back with one type. */
function fusedProjection(
  il: number,
  group: (typeof FUSED)[number],
  proj: (il: number, name: string) => Projection,
): FusedProjection | undefined {
  const parts = group.parts.map((p) => proj(il, p));
  const first = parts[0].w;
  let end = first.ptr;
  for (const { w: t } of parts) {
    if (t.type !== first.type || !ROW_BLOCK_TYPES.has(t.type) || t.ptr !== end || t.shape[0] !== first.shape[0]) {
      return undefined;
    }
    end += t.bytes;
  }
  const w: ArenaTensor = {
    name: `blk.${il}.${group.name} (fused)`,
    type: first.type,
    shape: [first.shape[0], parts.reduce((n, p) => n + p.w.shape[1], 0)],
    ptr: first.ptr,
    bytes: end - first.ptr,
  };
  return { w, parts };
}

const PROJECTION_FIELDS: Readonly<Record<ProjectionName, keyof BitnetLayer>> = {
  attn_q: "wq",
  attn_k: "wk",
  attn_v: "wv",
  attn_output: "wo",
  ffn_gate: "ffnGate",
  ffn_up: "ffnUp",
  ffn_down: "ffnDown",
};

/** A BitNet model loaded into a kernel backend's arena. */
export class BitnetModel {
  /** Hyperparameters. */
  readonly config: BitnetConfig;
  /** Weights (arena views). */
  readonly weights: BitnetWeights;
  /** Preallocated buffers. */
  readonly state: RunState;
  /** The backend computing this model (owned by the caller). */
  readonly backend: KernelBackend;
  readonly #onTensor: TensorHook | undefined;
  readonly #faults: Faults;
  readonly #kvDim: number;
  readonly #output: Projection;
  /** `1.0f/sqrtf(float(n_embd_head))` in f32, as src/models/bitnet.cpp passes it to build_attn. */
  readonly #kqScale: number;
  // The activation format the quantized buffer holds after the last matmul, so Q/K/V and up/gate quantize their
  // shared input once.
  #xqKind: KernelId | undefined = undefined;
  #layer = -1;
  #lastView: Float32Array | undefined;
  #lastHost: Float32Array | undefined;
  /** Host copy of a chunk's token ids, written to the arena's ids buffer. */
  readonly #idsHost: Int32Array;
  readonly #idsBytes: Uint8Array;
  /** Reads queued by hooks on a backend without a host-visible arena, settled after each chunk. */
  readonly #pending: Promise<() => void>[] = [];

  private constructor(
    config: BitnetConfig,
    weights: BitnetWeights,
    state: RunState,
    backend: KernelBackend,
    opts: BitnetLoadOptions,
  ) {
    this.config = config;
    this.weights = weights;
    this.state = state;
    this.backend = backend;
    this.#onTensor = opts.onTensor;
    this.#faults = opts.faults ?? {};
    this.#kvDim = config.nHeadKv * config.headDim;
    this.#output = { w: weights.tokEmbd };
    this.#kqScale = Math.fround(1 / Math.fround(Math.sqrt(config.headDim)));
    this.#idsHost = new Int32Array(state.maxBatch);
    this.#idsBytes = new Uint8Array(this.#idsHost.buffer);
  }

  /**
   * Read a model's weights into the backend arena and allocate its run state.
   *
   * @param file An open GGUF file (it can be closed after loading).
   * @param backend The kernel backend whose arena receives the weights.
   * @param opts Context length, batch size, hook, faults, progress.
   * @returns The model.
   * @throws {RangeError} When the architecture is not supported, a tensor is missing, mis-shaped or of an
   *   unsupported type (the message names every such tensor), or an option is out of range.
   */
  static load(file: GgufFile, backend: KernelBackend, opts: BitnetLoadOptions = {}): BitnetModel {
    const cfg = configFromGguf(file);
    checkTensors(file, cfg);
    const nCtx = opts.nCtx ?? Math.min(cfg.nCtxTrain, 4096);
    const maxBatch = opts.maxBatch ?? 128;
    if (!Number.isInteger(nCtx) || nCtx < 1) {
      throw new RangeError(`Cannot load "${file.path}" with nCtx=${nCtx}: pass a positive integer`);
    }
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new RangeError(`Cannot load "${file.path}" with maxBatch=${maxBatch}: pass a positive integer`);
    }
    const faults = opts.faults ?? {};
    const hasTq = file.tensors.some((t) => t.type === GgmlType.TQ1_0 || t.type === GgmlType.TQ2_0);
    validateFaults(faults, cfg.nLayer, hasTq);

    // Allocate every weight first (the arena may grow on each alloc), then read them into their final place. The
    // members of a fused group (FUSED) are placed back to back when they share a block type whose rows are
    // independent (TQ1_0, TQ2_0).
    const placed = new Map<string, ArenaTensor>();
    let weightBytes = 0;
    const place = (name: string, align: number): void => {
      const info = file.tensor(name);
      if (!info || placed.has(name)) return;
      const ptr = backend.alloc(info.byteLength, align);
      placed.set(name, { name, type: info.type, shape: info.shape, ptr, bytes: info.byteLength });
      weightBytes += info.byteLength;
    };
    for (const spec of bitnetManifest(cfg)) {
      const group = FUSED.find((g) => g.parts.some((p) => spec.name.endsWith(`.${p}.weight`)));
      if (group) {
        const member = group.parts.find((p) => spec.name.endsWith(`.${p}.weight`))!;
        const names = group.parts.map((p) => spec.name.replace(`.${member}.`, `.${p}.`));
        const infos = names.map((n) => file.tensor(n));
        const fusable = infos.every((i) => i && ROW_BLOCK_TYPES.has(i.type) && i.type === infos[0]!.type);
        names.forEach((n, i) => place(n, fusable && i > 0 ? 1 : 64));
      }
      place(spec.name, 64);
    }
    const state = allocRunState(cfg, backend, nCtx, Math.min(maxBatch, nCtx));
    let loaded = 0;
    for (const t of placed.values()) {
      // Straight into a host-visible arena; through one host copy per tensor otherwise.
      const host = backend.hostBuffer;
      if (host) file.readTensor(t.name, new Uint8Array(host, t.ptr, t.bytes));
      else backend.write(t.ptr, file.readTensor(t.name, new Uint8Array(t.bytes)));
      loaded += t.bytes;
      opts.onProgress?.(loaded, weightBytes);
    }
    const get = (name: string): ArenaTensor => placed.get(name)!;
    const proj = (il: number, name: string): Projection => ({
      w: get(`blk.${il}.${name}.weight`),
      scale: placed.get(`blk.${il}.${name}.scale`),
    });
    const layers: BitnetLayer[] = [];
    for (let il = 0; il < cfg.nLayer; il++) {
      layers.push({
        attnNorm: get(`blk.${il}.attn_norm.weight`),
        wq: proj(il, "attn_q"),
        wk: proj(il, "attn_k"),
        wv: proj(il, "attn_v"),
        attnSubNorm: get(`blk.${il}.attn_sub_norm.weight`),
        wo: proj(il, "attn_output"),
        ffnNorm: get(`blk.${il}.ffn_norm.weight`),
        ffnGate: proj(il, "ffn_gate"),
        ffnUp: proj(il, "ffn_up"),
        ffnSubNorm: get(`blk.${il}.ffn_sub_norm.weight`),
        ffnDown: proj(il, "ffn_down"),
        qkv: fusedProjection(il, FUSED[0], proj),
        upGate: fusedProjection(il, FUSED[1], proj),
      });
    }
    const weights: BitnetWeights = {
      tokEmbd: get("token_embd.weight"),
      outputNorm: get("output_norm.weight"),
      layers,
      bytes: weightBytes,
    };
    if (faults.flipTernarySign) {
      const f = faults.flipTernarySign;
      const p = layers[f.layer][PROJECTION_FIELDS[f.tensor ?? "ffn_down"]] as Projection;
      flipFirstNonZero(new Uint8Array(hostArena(backend), p.w.ptr, p.w.bytes), p.w.type, p.w.shape[0], f.row ?? 0);
    }
    const rope = ropeTable(new Float32Array((nCtx + 1) * cfg.nRot), {
      nRot: cfg.nRot,
      freqBase: cfg.ropeFreqBase,
      freqScale: cfg.ropeFreqScale,
    });
    backend.write(state.rope, new Uint8Array(rope.buffer));
    return new BitnetModel(cfg, weights, state, backend, opts);
  }

  /**
   * Run the model on tokens at positions `pos0 .. pos0 + n - 1`, writing their K/V into the cache. Inputs longer
   * than the batch size are processed in chunks.
   *
   * @param tokens Token ids.
   * @param pos0 Position of the first token (the number of tokens already in the cache).
   * @param opts Which logits to compute, and where to put them.
   * @returns `"last"`: a `[V]` view into the arena, valid until the next call (copy to keep);
   *   `"all"`: `[n][V]` (`opts.out` when given); `"none"`: an empty array.
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
    for (let c = 0; c < n; c += st.maxBatch) {
      const t = Math.min(st.maxBatch, n - c);
      const last = c + t === n;
      const chunkMode: LogitsMode = mode === "all" ? "all" : mode === "last" && last ? "last" : "none";
      this.#forwardChunk(tokens, c, t, pos0 + c, chunkMode, out);
      if (this.#pending.length) await this.#settle();
    }
    if (mode === "last") return await this.#lastLogits();
    return out ?? new Float32Array(0);
  }

  // Tokens [from, from + T) as one chunk of T <= B; reads top to bottom like llama.cpp's bitnet graph
  // (src/models/bitnet.cpp). Their logits rows ("all") go to out rows from `from` on.
  #forwardChunk(
    tokens: Int32Array,
    from: number,
    T: number,
    pos0: number,
    mode: LogitsMode,
    out: Float32Array | undefined,
  ): void {
    const cfg = this.config, st = this.state, w = this.weights, be = this.backend, f = this.#faults;
    const E = cfg.nEmbd, F = cfg.nFf, H = cfg.nHead, Hk = cfg.nHeadKv, D = cfg.headDim, R = cfg.nRot;
    const Kv = this.#kvDim, L = cfg.nLayer, eps = cfg.rmsEps, outRow = from;
    // inp_embd = get_rows(token_embd, ids)                                    [T][E]
    const ids = this.#idsHost;
    for (let i = 0; i < T; i++) ids[i] = tokens[from + i];
    be.write(st.ids, this.#idsBytes.subarray(0, 4 * T));
    be.run(typeKernels(w.tokEmbd.type).getRows!, w.tokEmbd.ptr, st.ids, st.x, E, T);
    this.#hook("inp_embd", st.x, T, E);

    for (let il = 0; il < L; il++) {
      const ly = w.layers[il];
      this.#layer = il;
      const kRows = st.kCache[il] + pos0 * Kv * 4, vRows = st.vCache[il] + pos0 * Kv * 4;

      // attn_norm = rms_norm(x) * attn_norm                                   [T][E]
      be.run("rms_norm", st.x, ly.attnNorm.ptr, st.cur, E, T, eps);
      this.#hook(`attn_norm-${il}`, st.cur, T, E);

      // Qcur = Wq·attn_norm; Kcur, Vcur straight into this layer's cache rows   [T][E], [T][Kv], [T][Kv]
      // (a single token: one matmul over Q, K and V placed back to back, then K and V copied into the cache)
      let qPtr = st.q;
      if (T === 1 && ly.qkv) {
        qPtr = st.qkv;
        this.#fusedMatmul(ly.qkv, st.cur, st.qkv);
        be.run("copy", st.qkv + E * 4, kRows, Kv * 4);
        be.run("copy", st.qkv + (E + Kv) * 4, vRows, Kv * 4);
      } else {
        this.#matmul(ly.wq, st.cur, T, st.q, false);
        this.#matmul(ly.wk, st.cur, T, kRows, true);
        this.#matmul(ly.wv, st.cur, T, vRows, true);
      }

      // RoPE (NEOX pairs (i, i + R/2)) on Qcur and Kcur, angles of positions pos0 .. pos0+T-1
      const ropeRows = st.rope + pos0 * R * 4;
      const kRopeRows = ropeRows + (f.positionOffByOne === il ? R * 4 : 0);
      if (f.ropeNorm === il) {
        const arena = hostArena(be);
        ropeNormInPlace(new Float32Array(arena, qPtr, T * E), new Float32Array(arena, ropeRows, T * R), {
          nTok: T,
          nHead: H,
          headDim: D,
          nRot: R,
        });
        ropeNormInPlace(new Float32Array(arena, kRows, T * Kv), new Float32Array(arena, kRopeRows, T * R), {
          nTok: T,
          nHead: Hk,
          headDim: D,
          nRot: R,
        });
      } else {
        be.run("rope.neox", qPtr, ropeRows, T, H, D, R);
        be.run("rope.neox", kRows, kRopeRows, T, Hk, D, R);
      }
      this.#hook(`Qcur-${il}`, qPtr, T, E);
      this.#hook(`Kcur-${il}`, kRows, T, Kv);
      this.#hook(`Vcur-${il}`, vRows, T, Kv);

      // kqv_out = softmax(Q·Kᵀ / sqrt(D) + causal mask) · V over cache rows 0..pos   [T][E]
      be.run(
        "attention",
        qPtr,
        st.kCache[il],
        st.vCache[il],
        st.kqv,
        st.attnScratch,
        T,
        pos0,
        H,
        Hk,
        D,
        st.nCtx,
        this.#kqScale,
      );
      this.#hook(`kqv_out-${il}`, st.kqv, T, E);

      // attn_sub_norm = rms_norm(kqv_out) * attn_sub_norm                     [T][E]
      let attnIn = st.sub;
      if (f.skipSubNorm === il) {
        attnIn = st.kqv;
      } else {
        be.run("rms_norm", st.kqv, ly.attnSubNorm.ptr, st.sub, E, T, eps);
        this.#hook(`attn_sub_norm-${il}`, st.sub, T, E);
      }

      // attn_out = Wo·attn_sub_norm                                            [T][E]
      this.#matmul(ly.wo, attnIn, T, st.attnOut, false);
      this.#hook(`attn_out-${il}`, st.attnOut, T, E);

      // In the last layer only the rows whose logits are wanted go on (llama.cpp's inp_out_ids).
      const rows = il < L - 1 || mode === "all" ? T : mode === "last" ? 1 : 0;
      if (rows === 0) break;
      const skip = (T - rows) * E * 4;

      // ffn_inp = attn_out + x                                                 [rows][E]
      be.run("add", st.attnOut + skip, st.x + skip, st.ffnInp, rows * E);
      this.#hook(`ffn_inp-${il}`, st.ffnInp, rows, E);

      // ffn_norm = rms_norm(ffn_inp) * ffn_norm                                [rows][E]
      be.run("rms_norm", st.ffnInp, ly.ffnNorm.ptr, st.cur, E, rows, eps);
      this.#hook(`ffn_norm-${il}`, st.cur, rows, E);

      // ffn_up = Wup·ffn_norm, ffn_gate = Wgate·ffn_norm                       [rows][F]
      // (a single row: one matmul over up and gate placed back to back)
      let up = st.up, gate = st.gate;
      if (rows === 1 && ly.upGate) {
        up = st.upGate;
        gate = st.upGate + F * 4;
        this.#fusedMatmul(ly.upGate, st.cur, st.upGate, FUSED[1].parts); // hooks named as the parts
      } else {
        this.#matmul(ly.ffnUp, st.cur, rows, st.up, false, "ffn_up");
        this.#matmul(ly.ffnGate, st.cur, rows, st.gate, true, "ffn_gate");
      }

      // ffn_sub_out = silu(gate) * up   (bitnet)   |   relu(gate)^2 * up   (bitnet-b1.58)   [rows][F]
      const relu2 = (cfg.activation === "relu2") !== (f.swapActivation === il);
      be.run(relu2 ? "relu2_glu" : "swiglu", gate, up, st.act, rows * F);
      this.#hook(`ffn_sub_out-${il}`, st.act, rows, F);

      // ffn_sub_norm = rms_norm(ffn_sub_out) * ffn_sub_norm                    [rows][F]
      be.run("rms_norm", st.act, ly.ffnSubNorm.ptr, st.actNorm, F, rows, eps);
      this.#hook(`ffn_sub_norm-${il}`, st.actNorm, rows, F);

      // ffn_down = Wdown·ffn_sub_norm                                          [rows][E]
      this.#matmul(ly.ffnDown, st.actNorm, rows, st.down, false);
      this.#hook(`ffn_down-${il}`, st.down, rows, E);

      // l_out = ffn_down + ffn_inp: the next layer's input                     [rows][E]
      be.run("add", st.down, st.ffnInp, st.x, rows * E);
      this.#hook(`l_out-${il}`, st.x, rows, E);
    }
    this.#layer = -1;
    if (mode === "none") return;

    // result_norm = rms_norm(x) * output_norm; result_output = token_embd·result_norm (tied)   [rows][E], [rows][V]
    const rows = mode === "all" ? T : 1;
    be.run("rms_norm", st.x, w.outputNorm.ptr, st.cur, E, rows, eps);
    this.#hook("result_norm", st.cur, rows, E);
    const V = cfg.nVocab;
    for (let r = 0, n = 0; r < rows; r += n) {
      // Never leave a single trailing row: ggml computes a batch of rows in another order than one row.
      n = Math.min(st.logitRows, rows - r);
      if (rows - r - n === 1 && n > 2) n--;
      this.#matmul(this.#output, st.cur + r * E * 4, n, st.logits, false);
      if (out) this.#readF32(st.logits, out.subarray((outRow + r) * V, (outRow + r + n) * V));
      if (this.#onTensor && rows === n) this.#hook("result_output", st.logits, n, V);
    }
    if (this.#onTensor && out && rows > st.logitRows) {
      this.#onTensor("result_output", out.subarray(outRow * V, (outRow + rows) * V), { rows, cols: V });
    }
  }

  /**
   * `y = W·x` (then `* scale` when the projection has one). `x` `[rows][K]` is first quantized to W's vec_dot type,
   * unless `sameInput` says it is the previous matmul's input and the quantized buffer already holds that format.
   * `y` is `[rows][N]`.
   */
  #matmul(p: Projection, x: number, rows: number, y: number, sameInput: boolean, preScaleName?: string): void {
    const w = p.w, K = w.shape[0], N = w.shape[1];
    const kind = typeKernels(w.type);
    const xq = kind.quantize ? this.#quantizeInput(kind.quantize, x, rows, K, sameInput) : x;
    this.backend.run(kind.gemm, w.ptr, xq, y, N, K, rows);
    this.#scale(p, y, rows, N, preScaleName);
  }

  /**
   * One token through a fused group (its parts placed back to back as `f.w`): quantize `x` `[K]` once, one matmul
   * into `y` `[sum of N]`, then each part's `.scale` on its slice of `y` (hooks named `preScaleNames`, as `#matmul`).
   */
  #fusedMatmul(f: FusedProjection, x: number, y: number, preScaleNames?: readonly string[]): void {
    const w = f.w, K = w.shape[0], N = w.shape[1];
    const kind = typeKernels(w.type);
    const xq = this.#quantizeInput(kind.quantize!, x, 1, K, false);
    this.backend.run(kind.gemm, w.ptr, xq, y, N, K, 1);
    let at = y;
    for (let i = 0; i < f.parts.length; i++) {
      const p = f.parts[i], n = p.w.shape[1];
      this.#scale(p, at, 1, n, preScaleNames?.[i]);
      at += n * 4;
    }
  }

  /**
   * Quantize `rows` activation rows at `x` into the shared `xq` buffer for `quant` (skipped when `sameInput` and
   * `xq` already holds this input in that format); returns `xq`. The `perTokenActQuant` fault swaps Q8_K's per-block
   * scales for per-token ones at its layer.
   */
  #quantizeInput(quant: KernelId, x: number, rows: number, K: number, sameInput: boolean): number {
    const be = this.backend, xq = this.state.xq;
    if (sameInput && this.#xqKind === quant) return xq;
    if (quant === "quantize.q8_k" && this.#faults.perTokenActQuant === this.#layer && this.#layer >= 0) {
      const arena = hostArena(be);
      const src = new Float32Array(arena, x, rows * K), dst = new Uint8Array(arena, xq, rows * Q8K_ROW(K));
      for (let r = 0; r < rows; r++) {
        quantizeRowQ8KPerToken(src.subarray(r * K, (r + 1) * K), dst.subarray(r * Q8K_ROW(K), (r + 1) * Q8K_ROW(K)));
      }
    } else {
      be.run(quant, x, xq, K, rows);
    }
    this.#xqKind = quant;
    return xq;
  }

  /** A projection's optional `.scale` on its output `[rows][N]`, with the hooks before and after it. */
  #scale(p: Projection, y: number, rows: number, N: number, preScaleName?: string): void {
    if (preScaleName) this.#hook(`${preScaleName}-${this.#layer}`, y, rows, N);
    if (!p.scale) return;
    this.backend.run("mul_scalar", y, p.scale.ptr, y, rows * N);
    if (preScaleName) this.#hook(`${preScaleName}_s-${this.#layer}`, y, rows, N);
  }

  /**
   * Call the tensor hook with a view of a host-visible arena; on another backend, read the tensor now (a read
   * returns the bytes as of its place in the queue) and call the hook when the chunk's reads settle.
   */
  #hook(name: string, ptr: number, rows: number, cols: number): void {
    const hook = this.#onTensor;
    if (!hook) return;
    const host = this.backend.hostBuffer;
    if (host) {
      hook(name, new Float32Array(host, ptr, rows * cols), { rows, cols });
      return;
    }
    const pending = this.backend.read(ptr, rows * cols * 4);
    this.#pending.push(
      pending.then((b) => () => hook(name, new Float32Array(b.buffer, b.byteOffset, rows * cols), { rows, cols })),
    );
  }

  /** Copy `dst.length` floats at `ptr` out of the arena into `dst` (when the chunk's reads settle, off the host). */
  #readF32(ptr: number, dst: Float32Array): void {
    const host = this.backend.hostBuffer;
    if (host) dst.set(new Float32Array(host, ptr, dst.length));
    else {
      const into = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
      this.#pending.push(this.backend.read(ptr, dst.byteLength, into).then(() => () => {}));
    }
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

/** Fail at load, naming every tensor that is missing, mis-shaped or of an unsupported type. */
function checkTensors(file: GgufFile, cfg: BitnetConfig): void {
  const problems = validateTensors(file.tensors, cfg).filter((p) => p.kind !== "extra");
  if (problems.length) {
    throw new RangeError(
      `Cannot load "${file.path}": ${problems.length} tensor problem(s): ${
        problems.map((p) => p.message).join("; ")
      }. ` +
        `The file is not a complete ${cfg.arch} model; re-create or re-fetch it (crossval inspect shows details).`,
    );
  }
  for (let il = 0; il < cfg.nLayer; il++) {
    for (const [name, k] of projections(cfg)) {
      const t = file.tensor(`blk.${il}.${name}.weight`)!;
      const block = ggmlTypeInfo(t.type)!.blockSize;
      if (k % block !== 0) {
        throw new RangeError(
          `Cannot load "${file.path}": ${t.name} is ${ggmlTypeName(t.type)} with rows of ${k} values, ` +
            `not a multiple of its block size ${block}`,
        );
      }
    }
  }
  const emb = file.tensor("token_embd.weight")!;
  if (!TYPE_KERNELS.exact.get(emb.type)?.getRows) {
    throw new RangeError(
      `Cannot load "${file.path}": token_embd.weight has unsupported type ${ggmlTypeName(emb.type)}`,
    );
  }
  const embBlock = ggmlTypeInfo(emb.type)!.blockSize;
  if (cfg.nEmbd % embBlock !== 0) {
    throw new RangeError(
      `Cannot load "${file.path}": n_embd ${cfg.nEmbd} is not a multiple of ${
        ggmlTypeName(emb.type)
      }'s block ${embBlock}`,
    );
  }
}

/** Allocate every run-state buffer (f32 unless stated). */
function allocRunState(cfg: BitnetConfig, be: KernelBackend, nCtx: number, maxBatch: number): RunState {
  const B = maxBatch, E = cfg.nEmbd, F = cfg.nFf, Kv = cfg.nHeadKv * cfg.headDim, V = cfg.nVocab;
  let bytes = 0;
  const a = (n: number): number => {
    bytes += n;
    return be.alloc(n, 64);
  };
  const f32 = (n: number): number => a(n * 4);
  const maxK = Math.max(E, F);
  // The largest quantized row of the activation formats the model's weight types consume.
  const xqRow = Math.max(...[...TYPE_KERNELS.exact.values()].map((t) => t.actRowBytes(Math.ceil(maxK / 256) * 256)));
  const logitRows = Math.min(B, 16);
  const kCache: number[] = [], vCache: number[] = [];
  const state = {
    maxBatch: B,
    nCtx,
    logitRows,
    ids: a(B * 4),
    x: f32(B * E),
    cur: f32(B * E),
    q: f32(B * E),
    qkv: f32(E + 2 * Kv),
    upGate: f32(2 * F),
    kqv: f32(B * E),
    sub: f32(B * E),
    attnOut: f32(B * E),
    ffnInp: f32(B * E),
    up: f32(B * F),
    gate: f32(B * F),
    act: f32(B * F),
    actNorm: f32(B * F),
    down: f32(B * E),
    xq: a(B * xqRow),
    logits: f32(logitRows * V),
    rope: f32((nCtx + 1) * cfg.nRot),
    attnScratch: a(Math.max(4, be.scratchBytes("attention", { nCtx }))),
    kCache,
    vCache,
  };
  for (let il = 0; il < cfg.nLayer; il++) {
    kCache.push(f32(nCtx * Kv));
    vCache.push(f32(nCtx * Kv));
  }
  return { ...state, bytes };
}

/** The arena of a host-visible backend (the test-only faults compute on it directly). */
function hostArena(be: KernelBackend): ArrayBufferLike {
  if (!be.hostBuffer) {
    throw new TypeError(
      `Cannot inject faults on the ${be.id} backend: its arena is not host-visible. Use ref or wasm.`,
    );
  }
  return be.hostBuffer;
}
