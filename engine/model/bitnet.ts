/**
 * The `bitnet` architecture (llama.cpp's `src/models/bitnet.cpp`) and `bitnet-b1.58` (the same graph with a
 * squared-ReLU gate, as BitNet b1.58 2B4T): hyperparameters, tensor manifest and forward graph, top to bottom.
 * Both have sub-norms before `attn_output` and `ffn_down`, optional per-tensor `.scale` tensors after each
 * projection, NEOX RoPE, and logits from the tied token embedding.
 *
 * Dimension letters: E = n_embd (= H*D), F = n_ff, H = n_head, Hk = n_head_kv, D = head_dim, Kv = Hk*D,
 * V = n_vocab, T = tokens in the chunk.
 *
 * @module
 */

import type { GgufFile } from "../gguf/file.ts";
import type { KernelBackend } from "../backends/backend.ts";
import { type ArenaTensor, FUSED_GROUPS, type Projection } from "./arena.ts";
import { type ArchName, defaultAttnScale, type ModelConfig, readHparams } from "./config.ts";
import {
  type AttentionWeights,
  type Chunk,
  DecoderGraph,
  type DecoderInit,
  type GateUpWeights,
  loadDecoder,
  type LoadOptions,
} from "./graph.ts";
import { EMBEDDING_TYPES, normSpec, projectionSpecs, type TensorSpec } from "./manifest.ts";

// ---------------------------------------------------------------------------------------------------------------
// Hyperparameters

/**
 * Read a `bitnet` / `bitnet-b1.58` model's hyperparameters. The FFN activation follows the architecture
 * (llama.cpp's bitnet graph hard-codes SiLU; 2B4T's `bitnet-b1.58` uses squared ReLU, docs/formats.md sections 1
 * and 4); the attention scale is `1/sqrtf(D)` (bitnet.cpp passes it to build_attn, whatever `attention.scale`).
 *
 * @param file An open GGUF file.
 * @returns The hyperparameters.
 * @throws {RangeError} When a key is missing or inconsistent.
 */
export function bitnetHparams(file: GgufFile): ModelConfig {
  const arch = file.architecture as ArchName;
  const h = readHparams(file, arch);
  const { attentionScaleKey: _, ...common } = h;
  return {
    arch,
    ...common,
    ropeType: "neox",
    attnScale: defaultAttnScale(h.headDim),
    activation: arch === "bitnet" ? "silu" : "relu2",
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Tensor manifest (src/models/bitnet.cpp load_arch_tensors, in the order the converter writes them)

/** Projection names of one block with their `[in, out]` shapes. */
function projections(cfg: ModelConfig): ReadonlyArray<readonly [string, number, number]> {
  // llama.cpp creates attn_q and attn_output as {n_embd, n_embd}: the query width Q = H*D must equal E.
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
 * Every tensor a `bitnet` model may contain.
 *
 * @param cfg Hyperparameters.
 * @returns Tensor specs (required ones and the optional `.scale` tensors).
 */
export function bitnetManifest(cfg: ModelConfig): TensorSpec[] {
  const E = cfg.nEmbd;
  const out: TensorSpec[] = [
    { name: "token_embd.weight", shape: [E, cfg.nVocab], types: EMBEDDING_TYPES, required: true, role: "embedding" },
  ];
  for (let i = 0; i < cfg.nLayer; i++) {
    const b = `blk.${i}.`;
    out.push(normSpec(`${b}attn_norm.weight`, E));
    for (const [name, inDim, outDim] of projections(cfg)) {
      out.push(...projectionSpecs(`${b}${name}`, inDim, outDim, true));
    }
    out.push(normSpec(`${b}attn_sub_norm.weight`, E));
    out.push(normSpec(`${b}ffn_norm.weight`, E));
    out.push(normSpec(`${b}ffn_sub_norm.weight`, cfg.nFf));
  }
  out.push(normSpec("output_norm.weight", E));
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Weights

/** One transformer block's tensors. */
export interface BitnetLayer extends AttentionWeights, GateUpWeights {
  /** `[E]` */
  readonly attnNorm: ArenaTensor;
  /** `[E]` */
  readonly attnSubNorm: ArenaTensor;
  /** `[E, E]` */
  readonly wo: Projection;
  /** `[E]` */
  readonly ffnNorm: ArenaTensor;
  /** `[F]` */
  readonly ffnSubNorm: ArenaTensor;
  /** `[F, E]` */
  readonly ffnDown: Projection;
}

// ---------------------------------------------------------------------------------------------------------------
// Forward graph

/** A `bitnet` / `bitnet-b1.58` model loaded into a kernel backend. */
export class BitnetModel extends DecoderGraph {
  /** Blocks in order. */
  readonly layers: readonly BitnetLayer[];

  private constructor(init: DecoderInit, layers: BitnetLayer[]) {
    super(init);
    this.layers = layers;
  }

  /**
   * Read a model's weights into the backend arena and allocate its run state.
   *
   * @param file An open GGUF file (it can be closed after loading).
   * @param backend The kernel backend whose arena receives the weights.
   * @param opts Context length, batch size, hook, progress.
   * @returns The model.
   * @throws {RangeError} When a key or tensor is missing, mis-shaped or of an unsupported type (the message names
   *   every such tensor), or an option is out of range.
   */
  static load(file: GgufFile, backend: KernelBackend, opts: LoadOptions = {}): BitnetModel {
    const config = bitnetHparams(file);
    const { weights: w, state, io, summary } = loadDecoder(file, backend, config, bitnetManifest(config), {
      ...opts,
      subNorms: true,
    });
    const layers: BitnetLayer[] = [];
    for (let il = 0; il < config.nLayer; il++) {
      layers.push({
        attnNorm: w.get(`blk.${il}.attn_norm.weight`),
        wq: w.projection(il, "attn_q"),
        wk: w.projection(il, "attn_k"),
        wv: w.projection(il, "attn_v"),
        attnSubNorm: w.get(`blk.${il}.attn_sub_norm.weight`),
        wo: w.projection(il, "attn_output"),
        ffnNorm: w.get(`blk.${il}.ffn_norm.weight`),
        ffnGate: w.projection(il, "ffn_gate"),
        ffnUp: w.projection(il, "ffn_up"),
        ffnSubNorm: w.get(`blk.${il}.ffn_sub_norm.weight`),
        ffnDown: w.projection(il, "ffn_down"),
        qkv: w.fused(il, FUSED_GROUPS[0]),
        upGate: w.fused(il, FUSED_GROUPS[1]),
      });
    }
    return new BitnetModel({
      config,
      state,
      backend,
      io,
      summary,
      onTensor: opts.onTensor,
      activations: opts.activations,
    }, layers);
  }

  /** One chunk, in the order of src/models/bitnet.cpp. */
  protected chunk(c: Chunk): void {
    const cfg = this.config, st = this.state, E = cfg.nEmbd, F = cfg.nFf;
    // inp_embd = get_rows(token_embd, ids)                                      [T][E]
    this.embed(c);
    for (let il = 0; il < cfg.nLayer; il++) {
      const ly = this.layers[il];
      this.layerIndex = il;
      // attn_norm = rms_norm(x) * attn_norm                                     [T][E]
      this.norm(st.x, ly.attnNorm, st.cur, E, c.T, "attn_norm");
      // Qcur, Kcur, Vcur (RoPE NEOX), kqv_out = softmax(Q·Kᵀ / sqrt(D) + mask)·V   [T][Q]
      const kqv = this.selfAttention(il, ly, c);
      // attn_sub_norm = rms_norm(kqv_out) * attn_sub_norm                       [T][Q]
      this.norm(kqv, ly.attnSubNorm, st.sub, E, c.T, "attn_sub_norm");
      // attn_out = Wo·attn_sub_norm                                             [T][E]
      this.matmul(ly.wo, st.sub, c.T, st.attnOut, false);
      this.hook(`attn_out-${il}`, st.attnOut, c.T, E);

      // In the last layer only the rows whose logits are wanted go on (llama.cpp's inp_out_ids).
      const rows = this.rowsAfterAttention(il, c);
      if (rows === 0) break;
      const skip = (c.T - rows) * E * 4;
      // ffn_inp = attn_out + x                                                  [rows][E]
      this.add(st.attnOut + skip, st.x + skip, st.ffnInp, rows, "ffn_inp");
      // ffn_norm = rms_norm(ffn_inp) * ffn_norm                                 [rows][E]
      this.norm(st.ffnInp, ly.ffnNorm, st.cur, E, rows, "ffn_norm");
      // ffn_up = Wup·ffn_norm, ffn_gate = Wgate·ffn_norm                        [rows][F]
      const { up, gate } = this.gateUp(ly, rows);
      // ffn_sub_out = silu(gate) * up (bitnet) | relu(gate)^2 * up (bitnet-b1.58)   [rows][F]
      this.glu(cfg.activation, gate, up, st.act, rows, "ffn_sub_out");
      // ffn_sub_norm = rms_norm(ffn_sub_out) * ffn_sub_norm                     [rows][F]
      this.norm(st.act, ly.ffnSubNorm, st.actNorm, F, rows, "ffn_sub_norm");
      // ffn_down = Wdown·ffn_sub_norm                                           [rows][E]
      this.matmul(ly.ffnDown, st.actNorm, rows, st.down, false);
      this.hook(`ffn_down-${il}`, st.down, rows, E);
      // l_out = ffn_down + ffn_inp: the next layer's input                      [rows][E]
      this.add(st.down, st.ffnInp, st.x, rows, "l_out");
    }
    // result_norm = rms_norm(x) * output_norm; result_output = token_embd·result_norm (tied)
    this.output(c);
  }
}
