/**
 * {@link RunState}: every buffer a forward pass uses, allocated once at load (llama2.c's `RunState`), so
 * `forward` allocates nothing per token. Sizes come from the hyperparameters, the weight types (the largest
 * quantized activation row any of them consumes) and the kernels themselves (the attention scratch is what the
 * backend's `scratchBytes` asks for).
 *
 * Dimension letters: E = n_embd, F = n_ff, Q = H*D (query width), Kv = Hk*D, V = n_vocab, B = max batch,
 * C = context length (KV cache rows), R = n_rot.
 *
 * @module
 */

import type { KernelBackend } from "../backends/backend.ts";
import { type NumericsProfile, PROFILE_KERNELS, typeKernels } from "../backends/type_kernels.ts";
import type { ModelConfig } from "./config.ts";

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
  /** `[B][Q]` Qcur. */
  readonly q: number;
  /** `[Q + 2Kv]` Qcur, Kcur, Vcur of a single-token step (the fused Q/K/V matmul's output). */
  readonly qkv: number;
  /** `[2F]` ffn_up, ffn_gate of a single-token step (the fused up/gate matmul's output). */
  readonly upGate: number;
  /** `[B][Q]` kqv_out. */
  readonly kqv: number;
  /** `[B][Q]` attn_sub_norm (architectures with sub-norms). */
  readonly sub: number;
  /** `[B][E]` attn_out. */
  readonly attnOut: number;
  /** `[B][E]` ffn_inp. */
  readonly ffnInp: number;
  /** `[B][F]` ffn_up. */
  readonly up: number;
  /** `[B][F]` ffn_gate. */
  readonly gate: number;
  /** `[B][F]` gated activation. */
  readonly act: number;
  /** `[B][F]` ffn_sub_norm (architectures with sub-norms). */
  readonly actNorm: number;
  /** `[B][E]` FFN output (ffn_down / ffn_out). */
  readonly down: number;
  /** Quantized activations, `B` rows of the largest K in the largest format the weights consume. */
  readonly xq: number;
  /** `[logitRows][V]` result_output. */
  readonly logits: number;
  /** Per layer `[C][Kv]` f32 K cache. */
  readonly kCache: readonly number[];
  /** Per layer `[C][Kv]` f32 V cache. */
  readonly vCache: readonly number[];
  /** `[C][R]` RoPE table. */
  readonly rope: number;
  /** The attention kernel's scratch (as many bytes as the backend asks for). */
  readonly attnScratch: number;
  /** Total run-state bytes. */
  readonly bytes: number;
}

/** What {@link allocRunState} sizes from besides the hyperparameters. */
export interface RunStateOptions {
  /** C. */
  readonly nCtx: number;
  /** B (at most C). */
  readonly maxBatch: number;
  /** GGML types of every matrix the model multiplies (projections, output). */
  readonly weightTypes: readonly number[];
  /** True when the architecture has sub-norms (`attn_sub_norm`, `ffn_sub_norm`). */
  readonly subNorms: boolean;
  /** The kernel set (activation formats and the attention kernel's scratch depend on it); default `exact`. */
  readonly numerics?: NumericsProfile;
}

/**
 * Allocate every run-state buffer (f32 unless stated) in the backend's arena.
 *
 * @param cfg Hyperparameters.
 * @param be The backend.
 * @param opts Context, batch, weight types, sub-norms.
 * @returns The buffers.
 */
export function allocRunState(cfg: ModelConfig, be: KernelBackend, opts: RunStateOptions): RunState {
  const B = opts.maxBatch, C = opts.nCtx, E = cfg.nEmbd, F = cfg.nFf, V = cfg.nVocab;
  const Q = cfg.nHead * cfg.headDim, Kv = cfg.nHeadKv * cfg.headDim;
  let bytes = 0;
  const a = (n: number): number => {
    bytes += n;
    return be.alloc(n, 64);
  };
  const f32 = (n: number): number => a(n * 4);
  const maxK = Math.max(E, F, Q);
  const numerics = opts.numerics ?? "exact";
  // Only types whose matmul quantizes its input use the buffer (the fast F16/BF16 GEMV reads f32 activations).
  const quantized = opts.weightTypes.map((t) => typeKernels(t, numerics)).filter((k) => k.quantize !== undefined);
  const xqRow = Math.max(4, ...quantized.map((k) => k.actRowBytes(maxK)));
  const logitRows = Math.min(B, 16);
  const kCache: number[] = [], vCache: number[] = [];
  const state = {
    maxBatch: B,
    nCtx: C,
    logitRows,
    ids: a(B * 4),
    x: f32(B * E),
    cur: f32(B * E),
    q: f32(B * Q),
    qkv: f32(Q + 2 * Kv),
    upGate: f32(2 * F),
    kqv: f32(B * Q),
    sub: opts.subNorms ? f32(B * Q) : 0,
    attnOut: f32(B * E),
    ffnInp: f32(B * E),
    up: f32(B * F),
    gate: f32(B * F),
    act: f32(B * F),
    actNorm: opts.subNorms ? f32(B * F) : 0,
    down: f32(B * E),
    xq: a(B * xqRow),
    logits: f32(logitRows * V),
    rope: f32(C * cfg.nRot),
    attnScratch: a(Math.max(4, be.scratchBytes(PROFILE_KERNELS[numerics].attention, { nCtx: C, nHead: cfg.nHead }))),
    kCache,
    vCache,
  };
  for (let il = 0; il < cfg.nLayer; il++) {
    kCache.push(f32(C * Kv));
    vCache.push(f32(C * Kv));
  }
  return { ...state, bytes };
}
