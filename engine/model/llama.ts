/**
 * The `llama` architecture with ternary weights (llama.cpp's `src/models/llama.cpp`): the family of the 1.58-bit
 * models bitnet.cpp lists that are not `bitnet` at all, tiiuae/Falcon3-{1B,3B,7B,10B}-1.58bit and
 * HF1BitLLM/Llama3-8B-1.58-100B-tokens (microsoft/BitNet `utils/convert-hf-to-gguf-bitnet.py` registers their
 * `LlamaForCausalLM` as `MODEL_ARCH.LLAMA`). Hyperparameters, tensor manifest and forward graph, top to bottom.
 *
 * What these files carry, and so what the graph has: GQA; NORM (non-NEOX) RoPE (`llama_model_rope_type`), with
 * the Llama 3 `rope_freqs.weight` frequency factors when the converter wrote them; no sub-norms and no `.scale`
 * tensors (llama.cpp creates none for `llama`); an untied `output.weight` (Falcon3 and Llama 3 8B have
 * `tie_word_embeddings: false`) or, without it, logits from `token_embd.weight`; `attention.scale` when present,
 * else `1/sqrtf(D)`; a SiLU-gated FFN (`LLM_FFN_SILU, LLM_FFN_PAR`). The ternary projections are TQ2_0 / TQ1_0
 * (llama-quantize; they run in the pinned llama.cpp) or I2_S (bitnet.cpp's files, e.g.
 * tiiuae/Falcon3-1B-Instruct-1.58bit-GGUF `ggml-model-i2_s.gguf`). Anything else a llama file may hold (biases, a
 * fused `attn_qkv`, experts) is refused at load, naming the tensor.
 *
 * Dimension letters: E = n_embd, F = n_ff, H = n_head, Hk = n_head_kv, D = head_dim, Q = H*D, Kv = Hk*D,
 * R = n_rot (= D), V = n_vocab, T = tokens in the chunk.
 *
 * @module
 */

import type { GgufFile } from "../gguf/file.ts";
import type { KernelBackend } from "../backends/backend.ts";
import { GgmlType } from "../quant/ggml_type.ts";
import { type ArenaTensor, FUSED_GROUPS, type Projection } from "./arena.ts";
import { defaultAttnScale, type ModelConfig, readHparams } from "./config.ts";
import {
  type AttentionWeights,
  type Chunk,
  DecoderGraph,
  type DecoderInit,
  type GateUpWeights,
  loadDecoder,
  type LoadOptions,
} from "./graph.ts";
import { checkManifest, EMBEDDING_TYPES, normSpec, projectionSpecs, type TensorSpec } from "./manifest.ts";

// ---------------------------------------------------------------------------------------------------------------
// Hyperparameters (llama_model_llama::load_arch_hparams over the generic loader)

/**
 * Read a `llama` model's hyperparameters.
 *
 * @param file An open GGUF file.
 * @returns The hyperparameters.
 * @throws {RangeError} When a key is missing or inconsistent, `rope.dimension_count` differs from the head size
 *   (llama.cpp: "invalid n_rot"), or the file is a mixture of experts.
 */
export function llamaHparams(file: GgufFile): ModelConfig {
  const h = readHparams(file, "llama");
  if (h.nRot !== h.headDim) {
    throw new RangeError(
      `Cannot read hyperparameters of "${file.path}": invalid n_rot ${h.nRot}, expected the head size ${h.headDim}`,
    );
  }
  if ((file.getNumber("llama.expert_count") ?? 0) > 0) {
    throw new RangeError(`Cannot run "${file.path}": mixture-of-experts llama models are not supported`);
  }
  const { attentionScaleKey, ...common } = h;
  return {
    arch: "llama",
    ...common,
    ropeType: "norm",
    // src/models/llama.cpp: kq_scale = f_attention_scale == 0 ? 1.0f/sqrtf(float(n_embd_head)) : f_attention_scale
    attnScale: attentionScaleKey === 0 ? defaultAttnScale(h.headDim) : Math.fround(attentionScaleKey),
    activation: "silu",
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Tensor manifest (llama_model_llama::load_arch_tensors, dense FFN, separate Q/K/V)

/**
 * Every tensor a ternary `llama` model may contain.
 *
 * @param cfg Hyperparameters.
 * @returns Tensor specs: the required ones, the optional untied `output.weight` and the optional `rope_freqs.weight`.
 */
export function llamaManifest(cfg: ModelConfig): TensorSpec[] {
  const E = cfg.nEmbd, F = cfg.nFf, Q = cfg.nHead * cfg.headDim, Kv = cfg.nHeadKv * cfg.headDim;
  const out: TensorSpec[] = [
    { name: "token_embd.weight", shape: [E, cfg.nVocab], types: EMBEDDING_TYPES, required: true, role: "embedding" },
    normSpec("output_norm.weight", E),
    { name: "output.weight", shape: [E, cfg.nVocab], types: EMBEDDING_TYPES, required: false, role: "output" },
    // One tensor for every layer (llama.cpp creates it per layer with TENSOR_DUPLICATED); the host reads it.
    { name: "rope_freqs.weight", shape: [cfg.nRot / 2], types: [GgmlType.F32], required: false, role: "host" },
  ];
  for (let i = 0; i < cfg.nLayer; i++) {
    const b = `blk.${i}.`;
    out.push(normSpec(`${b}attn_norm.weight`, E));
    out.push(...projectionSpecs(`${b}attn_q`, E, Q, false));
    out.push(...projectionSpecs(`${b}attn_k`, E, Kv, false));
    out.push(...projectionSpecs(`${b}attn_v`, E, Kv, false));
    out.push(...projectionSpecs(`${b}attn_output`, Q, E, false));
    out.push(normSpec(`${b}ffn_norm.weight`, E));
    out.push(...projectionSpecs(`${b}ffn_gate`, E, F, false));
    out.push(...projectionSpecs(`${b}ffn_down`, F, E, false));
    out.push(...projectionSpecs(`${b}ffn_up`, E, F, false));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Weights

/** One transformer block's tensors. */
export interface LlamaLayer extends AttentionWeights, GateUpWeights {
  /** `[E]` */
  readonly attnNorm: ArenaTensor;
  /** `[Q, E]` */
  readonly wo: Projection;
  /** `[E]` */
  readonly ffnNorm: ArenaTensor;
  /** `[F, E]` */
  readonly ffnDown: Projection;
}

// ---------------------------------------------------------------------------------------------------------------
// Forward graph

/** A ternary `llama` model loaded into a kernel backend. */
export class LlamaModel extends DecoderGraph {
  /** Blocks in order. */
  readonly layers: readonly LlamaLayer[];

  private constructor(init: DecoderInit, layers: LlamaLayer[]) {
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
   * @throws {RangeError} When a key or tensor is missing, mis-shaped, of an unsupported type or one this graph does
   *   not compute (the message names every such tensor), or an option is out of range.
   */
  static load(file: GgufFile, backend: KernelBackend, opts: LoadOptions = {}): LlamaModel {
    const config = llamaHparams(file);
    const manifest = llamaManifest(config);
    // llama.cpp refuses a file with tensors it did not create; so does this graph (a bias it ignored would be
    // silently wrong math).
    const extra = checkManifest(file.tensors, manifest).filter((p) => p.kind === "extra");
    if (extra.length) {
      throw new RangeError(
        `Cannot load "${file.path}": ${extra.length} tensor(s) this llama graph does not compute: ` +
          `${extra.slice(0, 5).map((p) => p.tensor).join(", ")}${extra.length > 5 ? ", ..." : ""}. ` +
          `Only dense llama models without biases are supported.`,
      );
    }
    const { weights: w, state, io, summary } = loadDecoder(file, backend, config, manifest, {
      ...opts,
      subNorms: false,
    });
    const layers: LlamaLayer[] = [];
    for (let il = 0; il < config.nLayer; il++) {
      layers.push({
        attnNorm: w.get(`blk.${il}.attn_norm.weight`),
        wq: w.projection(il, "attn_q"),
        wk: w.projection(il, "attn_k"),
        wv: w.projection(il, "attn_v"),
        wo: w.projection(il, "attn_output"),
        ffnNorm: w.get(`blk.${il}.ffn_norm.weight`),
        ffnGate: w.projection(il, "ffn_gate"),
        ffnUp: w.projection(il, "ffn_up"),
        ffnDown: w.projection(il, "ffn_down"),
        qkv: w.fused(il, FUSED_GROUPS[0]),
        upGate: w.fused(il, FUSED_GROUPS[1]),
      });
    }
    return new LlamaModel({
      config,
      state,
      backend,
      io,
      summary,
      onTensor: opts.onTensor,
      activations: opts.activations,
    }, layers);
  }

  /** One chunk, in the order of src/models/llama.cpp. */
  protected chunk(c: Chunk): void {
    const cfg = this.config, st = this.state, E = cfg.nEmbd;
    // inpL = get_rows(token_embd, ids)                                          [T][E]
    this.embed(c);
    for (let il = 0; il < cfg.nLayer; il++) {
      const ly = this.layers[il];
      this.layerIndex = il;
      // attn_norm = rms_norm(inpL) * attn_norm                                  [T][E]
      this.norm(st.x, ly.attnNorm, st.cur, E, c.T, "attn_norm");
      // Qcur, Kcur, Vcur (RoPE NORM, rope_freqs), kqv_out = softmax(Q·Kᵀ * kq_scale + mask)·V   [T][Q]
      const kqv = this.selfAttention(il, ly, c);
      // attn_out = Wo·kqv_out (build_attn's output projection)                  [T][E]
      this.matmul(ly.wo, kqv, c.T, st.attnOut, false);
      this.hook(`attn_out-${il}`, st.attnOut, c.T, E);

      // In the last layer only the rows whose logits are wanted go on (inp_out_ids).
      const rows = this.rowsAfterAttention(il, c);
      if (rows === 0) break;
      const skip = (c.T - rows) * E * 4;
      // ffn_inp = attn_out + inpSA                                              [rows][E]
      this.add(st.attnOut + skip, st.x + skip, st.ffnInp, rows, "ffn_inp");
      // ffn_norm = rms_norm(ffn_inp) * ffn_norm                                 [rows][E]
      this.norm(st.ffnInp, ly.ffnNorm, st.cur, E, rows, "ffn_norm");
      // build_ffn(LLM_FFN_SILU, LLM_FFN_PAR): ffn_up, ffn_gate, ffn_swiglu = silu(gate) * up, ffn_out = Wdown··
      const { up, gate } = this.gateUp(ly, rows);
      this.glu("silu", gate, up, st.act, rows, "ffn_swiglu");
      this.matmul(ly.ffnDown, st.act, rows, st.down, false);
      this.hook(`ffn_out-${il}`, st.down, rows, E);
      // l_out = ffn_out + ffn_inp: the next layer's input                       [rows][E]
      this.add(st.down, st.ffnInp, st.x, rows, "l_out");
    }
    // result_norm = rms_norm(inpL) * output_norm; result_output = output·result_norm (token_embd when tied)
    this.output(c);
  }
}
