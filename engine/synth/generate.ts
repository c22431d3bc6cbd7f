/**
 * Deterministic synthetic BitNet models: the same {@link SynthSpec} gives the same bytes (and SHA-256) on every
 * machine. Tensors are produced one at a time and streamed to the file, so the 2b4t shape (1.2 GB) is written in
 * seconds without holding the model in memory.
 *
 * Scales are chosen so the model is not degenerate (research: random tied-embedding models echo the last token):
 * the embedding is small (std 0.02) next to the layer outputs (RMS ~1), so the residual stream is dominated by
 * context-dependent attention/FFN outputs and greedy decoding produces varied tokens; the output norm is sized so
 * logits have a std of about 2.5 whatever the hidden size.
 *
 * @module
 */

import type { GgufFile } from "../gguf/file.ts";
import { type GgufKv, GgufValueType } from "../gguf/types.ts";
import type { GgufSpec, GgufTensorSpec } from "../gguf/writer.ts";
import { ggmlTensorBytes, GgmlType } from "../quant/ggml_type.ts";
import { f32ToBf16, f32ToF16 } from "../quant/fp16.ts";
import { quantFormat } from "../quant/formats.ts";
import { packI2S, packTq1_0, packTq2_0 } from "../quant/ternary.ts";
import { defaultAttnScale, type ModelConfig } from "../model/config.ts";
import { architecture } from "../model/architectures.ts";
import { Rng } from "./prng.ts";
import { shapeOf, specToQuery, type SynthEmbedType, type SynthSpec, type SynthWeightType } from "./spec.ts";
import { trainSynthVocab } from "./vocab.ts";

/** Bumped only when the generator's output changes on purpose (it changes every pinned hash). */
export const SYNTH_FORMAT_VERSION = 1;

const EMBD_STD = 0.02;
const LOGIT_STD = 2.5;
const QK_GAIN = 1.5;

const WEIGHT_GGML: Record<SynthWeightType, number> = {
  tq2_0: GgmlType.TQ2_0,
  tq1_0: GgmlType.TQ1_0,
  i2_s: GgmlType.I2_S,
};
const EMBED_GGML: Record<SynthEmbedType, number> = {
  f16: GgmlType.F16,
  bf16: GgmlType.BF16,
  q8_0: GgmlType.Q8_0,
  q6_k: GgmlType.Q6_K,
};
// llama.h `enum llama_ftype`: MOSTLY_TQ1_0 = 36, MOSTLY_TQ2_0 = 37; I2_S files from bitnet.cpp use 40 (its fork's
// LLAMA_FTYPE_MOSTLY_I2_S). The value is informational.
const FILE_TYPE: Record<SynthWeightType, number> = { tq2_0: 37, tq1_0: 36, i2_s: 40 };

const str = (value: string): GgufKv => ({ type: GgufValueType.STRING, value });
const u32 = (value: number): GgufKv => ({ type: GgufValueType.UINT32, value });
const f32 = (value: number): GgufKv => ({ type: GgufValueType.FLOAT32, value });
const bool = (value: boolean): GgufKv => ({ type: GgufValueType.BOOL, value });

/** Tokenizer metadata: built-in trained vocabulary, or the `tokenizer.*` keys of another GGUF. */
function tokenizerMetadata(spec: SynthSpec, vocabFile: GgufFile | undefined, padTo: number): [string, GgufKv][] {
  if (vocabFile) {
    const kvs: [string, GgufKv][] = [];
    for (const [k, v] of vocabFile.header.metadata) if (k.startsWith("tokenizer.")) kvs.push([k, v]);
    if (!kvs.some(([k]) => k === "tokenizer.ggml.tokens")) {
      throw new RangeError(`Cannot reuse the vocabulary of "${vocabFile.path}": it has no tokenizer.ggml.tokens`);
    }
    return kvs;
  }
  const v = trainSynthVocab({ padTo });
  void spec;
  return [
    ["tokenizer.ggml.model", str("gpt2")],
    ["tokenizer.ggml.pre", str("llama-bpe")],
    ["tokenizer.ggml.tokens", {
      type: GgufValueType.ARRAY,
      value: { itemType: GgufValueType.STRING, items: v.tokens },
    }],
    ["tokenizer.ggml.token_type", {
      type: GgufValueType.ARRAY,
      value: { itemType: GgufValueType.INT32, items: v.types },
    }],
    ["tokenizer.ggml.merges", {
      type: GgufValueType.ARRAY,
      value: { itemType: GgufValueType.STRING, items: v.merges },
    }],
    ["tokenizer.ggml.bos_token_id", u32(v.bos)],
    ["tokenizer.ggml.eos_token_id", u32(v.eos)],
    ["tokenizer.ggml.eot_token_id", u32(v.eot)],
    ["tokenizer.ggml.add_bos_token", bool(true)],
    ["tokenizer.ggml.add_eos_token", bool(false)],
  ];
}

/** Ternary codes (value + 1) with P(-1) = P(+1) = 1/4, P(0) = 1/2, four per random byte. */
function ternaryCodes(rng: Rng, n: number): Uint8Array {
  const raw = new Uint8Array(Math.ceil(n / 4));
  rng.fillBytes(raw);
  const codes = new Uint8Array(n);
  const lut = [0, 1, 2, 1];
  for (let i = 0; i < n; i++) codes[i] = lut[(raw[i >> 2]! >> ((i & 3) * 2)) & 3]!;
  return codes;
}

function ternaryTensor(type: SynthWeightType, codes: Uint8Array, scale: number, rows: number, k: number): Uint8Array {
  const ggml = WEIGHT_GGML[type];
  const n = rows * k;
  if (type === "i2_s") {
    const dst = new Uint8Array(ggmlTensorBytes(ggml, n));
    packI2S(codes, scale, dst);
    return dst;
  }
  const blocks = n / 256;
  const dst = new Uint8Array(ggmlTensorBytes(ggml, n));
  const scales = new Float32Array(blocks).fill(scale);
  if (type === "tq2_0") packTq2_0(codes, scales, dst);
  else packTq1_0(codes, scales, dst);
  return dst;
}

/** A `[E, V]` matrix of small normal values (`token_embd`, or an untied `output`) in `type`. */
function embeddingTensor(seed: number, name: string, type: SynthEmbedType, e: number, v: number): Uint8Array {
  // A 4096-entry table of normal samples, indexed by 12 random bits per value: fast and exactly reproducible.
  const tableRng = new Rng(seed, `${name}.table`);
  const table = new Float32Array(4096);
  for (let i = 0; i < table.length; i++) table[i] = EMBD_STD * tableRng.normal();
  const rng = new Rng(seed, `${name}.weight`);
  const n = e * v;
  if (type === "f16" || type === "bf16") {
    const conv = type === "f16" ? f32ToF16 : f32ToBf16;
    const bits = new Uint16Array(4096);
    for (let i = 0; i < 4096; i++) bits[i] = conv(table[i]!);
    const out = new Uint16Array(n);
    for (let i = 0; i < n; i += 2) {
      const r = rng.u32();
      out[i] = bits[r & 4095]!;
      if (i + 1 < n) out[i + 1] = bits[(r >>> 12) & 4095]!;
    }
    return new Uint8Array(out.buffer);
  }
  const fmt = quantFormat(EMBED_GGML[type]);
  const rowBytes = (e / fmt.blockSize) * fmt.typeSize;
  const out = new Uint8Array(rowBytes * v);
  const row = new Float32Array(e);
  for (let r = 0; r < v; r++) {
    for (let i = 0; i < e; i += 2) {
      const x = rng.u32();
      row[i] = table[x & 4095]!;
      if (i + 1 < e) row[i + 1] = table[(x >>> 12) & 4095]!;
    }
    fmt.quantize(row, out.subarray(r * rowBytes, (r + 1) * rowBytes));
  }
  return out;
}

function normTensor(seed: number, name: string, n: number, center: number): Uint8Array {
  const rng = new Rng(seed, name);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(center * (1 + 0.1 * rng.normal()));
  return new Uint8Array(out.buffer);
}

/**
 * Describe a synthetic model as a GGUF spec whose tensors are generated lazily, in order.
 *
 * @param spec The model spec (normalize it first with `normalizeSpec`).
 * @param opts.vocabFile An open GGUF whose tokenizer to reuse (required when `spec.vocab` is set).
 * @returns The GGUF spec and the model's hyperparameters.
 * @throws {RangeError} For impossible shapes.
 */
export function synthesizeModel(
  spec: SynthSpec,
  opts: { vocabFile?: GgufFile } = {},
): { gguf: GgufSpec; config: ModelConfig } {
  const shape = shapeOf(spec);
  const tokMeta = tokenizerMetadata(spec, opts.vocabFile, shape.vocab);
  const tokens = tokMeta.find(([k]) => k === "tokenizer.ggml.tokens")![1].value as { items: unknown[] };
  const config: ModelConfig = {
    arch: spec.arch,
    nVocab: tokens.items.length,
    nCtxTrain: shape.ctx,
    nEmbd: shape.embd,
    nLayer: shape.layers,
    nFf: shape.ff,
    nHead: shape.heads,
    nHeadKv: shape.headsKv,
    headDim: shape.embd / shape.heads,
    nRot: shape.embd / shape.heads,
    ropeType: spec.arch === "llama" ? "norm" : "neox",
    ropeFreqBase: shape.ropeBase,
    ropeFreqScale: 1,
    ropeAttnFactor: 1,
    attnScale: defaultAttnScale(shape.embd / shape.heads),
    rmsEps: shape.eps,
    activation: spec.arch === "bitnet-b1.58" ? "relu2" : "silu",
  };
  const p = `${spec.arch}.`;
  const query = spec.vocab ? undefined : specToQuery(spec);
  const metadata: [string, GgufKv][] = spec.arch === "bitnet-b1.58"
    ? officialB158Metadata(spec, config, tokMeta, opts.vocabFile !== undefined)
    : [
      ["general.architecture", str(spec.arch)],
      ["general.type", str("model")],
      ["general.name", str(`crossval-synth-${spec.preset}`)],
      ["general.file_type", u32(FILE_TYPE[spec.type])],
      ["general.quantization_version", u32(2)],
      ["crossval.synth.version", u32(SYNTH_FORMAT_VERSION)],
      ...(query ? [["crossval.synth.spec", str(query)] as [string, GgufKv]] : []),
      [`${p}vocab_size`, u32(config.nVocab)],
      [`${p}context_length`, u32(config.nCtxTrain)],
      [`${p}embedding_length`, u32(config.nEmbd)],
      [`${p}block_count`, u32(config.nLayer)],
      [`${p}feed_forward_length`, u32(config.nFf)],
      [`${p}rope.dimension_count`, u32(config.nRot)],
      [`${p}attention.head_count`, u32(config.nHead)],
      [`${p}attention.head_count_kv`, u32(config.nHeadKv)],
      [`${p}attention.layer_norm_rms_epsilon`, f32(config.rmsEps)],
      [`${p}rope.freq_base`, f32(config.ropeFreqBase)],
      ...tokMeta,
    ];

  const gains: Record<string, number> = { attn_q: QK_GAIN, attn_k: QK_GAIN };
  const tensors: GgufTensorSpec[] = [];
  const manifest = architecture(spec.arch).manifest(config);
  for (const t of spec.arch === "bitnet-b1.58" ? officialB158Order(manifest) : manifest) {
    // Optional tensors the spec asks for: .scale (scales), output.weight (untied), rope_freqs.weight (ropeFreqs).
    const wanted = t.role === "scale" ? spec.scales : t.role === "output" ? spec.untied : spec.ropeFreqs;
    if (!t.required && !wanted) continue;
    const name = t.name;
    const proj = name.match(/^blk\.\d+\.(\w+)\.(weight|scale)$/);
    let type: number;
    let data: () => Uint8Array;
    if (t.role === "embedding" || t.role === "output") {
      const et = t.role === "output" ? spec.outputType ?? spec.embedType : spec.embedType;
      type = EMBED_GGML[et];
      data = () =>
        embeddingTensor(spec.seed, t.role === "output" ? "output" : "token_embd", et, config.nEmbd, config.nVocab);
    } else if (t.role === "host") {
      // rope_freqs.weight: Llama 3's rope scaling factors, as the converters compute them (llama.cpp
      // convert_hf_to_gguf.py LlamaModel.generate_extra_tensors; factor 8, low_freq_factor 1, high_freq_factor 4,
      // original_max_position_embeddings 8192: Llama 3.1's rope_scaling).
      type = GgmlType.F32;
      data = () => new Uint8Array(llama3RopeFactors(config.ropeFreqBase, config.headDim).buffer);
    } else if (t.role === "norm") {
      type = GgmlType.F32;
      const center = name === "output_norm.weight" ? LOGIT_STD / (EMBD_STD * Math.sqrt(config.nEmbd)) : 1;
      data = () => normTensor(spec.seed, name, t.shape[0]!, center);
    } else if (t.role === "scale") {
      type = GgmlType.F32;
      data = () => new Uint8Array(new Float32Array([scaleTensorValue(spec.seed, name)]).buffer);
    } else {
      type = WEIGHT_GGML[spec.type];
      const [k, rows] = t.shape;
      // Per-tensor magnitude so each projection's output has RMS ~gain (inputs are RMS-normalized).
      const base = (gains[proj![1]!] ?? 1) * Math.sqrt(2 / k);
      const scaleName = name.replace(/\.weight$/, ".scale");
      const s = spec.scales ? base / scaleTensorValue(spec.seed, scaleName) : base;
      data = () => ternaryTensor(spec.type, ternaryCodes(new Rng(spec.seed, name), rows * k), s, rows, k);
    }
    tensors.push({ name, shape: t.shape, type, data });
  }
  return { gguf: { metadata, tensors }, config };
}

/** Llama 3 rope scaling factors for head size `dim` (one per rotated pair), as f32. */
function llama3RopeFactors(base: number, dim: number): Float32Array {
  const factor = 8, low = 1, high = 4, oldCtx = 8192;
  const lowWavelen = oldCtx / low, highWavelen = oldCtx / high;
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    // torch: 1.0 / (base ** (arange(0, dim, 2, float32) / dim)), in f32
    const freq = Math.fround(1 / Math.fround(Math.pow(base, Math.fround((2 * i) / dim))));
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = factor;
    else {
      const smooth = (oldCtx / wavelen - low) / (high - low);
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

/** Value of an optional `.scale` tensor: in [0.5, 1.5), so the weight blocks carry the rest of the magnitude. */
function scaleTensorValue(seed: number, name: string): number {
  return Math.fround(0.5 + new Rng(seed, name).uniform());
}

// ---------------------------------------------------------------------------------------------------------------
// The official BitNet b1.58 2B4T file's layout (docs/formats.md section 4)

/**
 * Metadata of a `bitnet-b1.58` model as the official `ggml-model-i2_s.gguf` holds it: exactly its 24 keys, in its
 * order and with its types (the loader's dump of that file in microsoft/BitNet issue #373; written by
 * `utils/convert-hf-to-gguf-bitnet.py`'s `BitnetModel` and `llama-quantize`): no `tokenizer.ggml.pre` (llama.cpp
 * then uses its `default` pre-tokenizer), no EOT id (found from the token text), `tokenizer.ggml.scores` all zero,
 * the padding id equal to EOS, and `general.file_type` 40 (bitnet.cpp's I2_S). The values are this generator's, and
 * so is the chat template's text (the official one is not reproduced); no `crossval.synth.*` keys, so the file's
 * key set is the official one.
 */
function officialB158Metadata(
  spec: SynthSpec,
  config: ModelConfig,
  tokMeta: [string, GgufKv][],
  reusedVocab: boolean,
): [string, GgufKv][] {
  const p = "bitnet-b1.58.";
  const tok = new Map(tokMeta);
  const get = (k: string) => tok.get(k)!;
  const tokens = get("tokenizer.ggml.tokens").value as { items: unknown[] };
  const head: [string, GgufKv][] = [
    ["general.architecture", str("bitnet-b1.58")],
    ["general.name", str(`crossval-synth-${spec.preset}`)],
    [`${p}vocab_size`, u32(config.nVocab)],
    [`${p}context_length`, u32(config.nCtxTrain)],
    [`${p}embedding_length`, u32(config.nEmbd)],
    [`${p}block_count`, u32(config.nLayer)],
    [`${p}feed_forward_length`, u32(config.nFf)],
    [`${p}rope.dimension_count`, u32(config.nRot)],
    [`${p}attention.head_count`, u32(config.nHead)],
    [`${p}attention.head_count_kv`, u32(config.nHeadKv)],
  ];
  const mid: [string, GgufKv][] = [
    [`${p}attention.layer_norm_rms_epsilon`, f32(config.rmsEps)],
    [`${p}rope.freq_base`, f32(config.ropeFreqBase)],
    ["general.file_type", u32(FILE_TYPE[spec.type])],
  ];
  const tail: [string, GgufKv][] = [["general.quantization_version", u32(2)]];
  // A reused vocabulary keeps its own tokenizer keys as they are (it is someone else's tokenizer).
  if (reusedVocab) return [...head, ...mid, ...tokMeta, ...tail];
  const eos = get("tokenizer.ggml.eos_token_id");
  return [
    ...head,
    ["tokenizer.ggml.add_bos_token", bool(true)],
    ...mid,
    ["tokenizer.ggml.model", get("tokenizer.ggml.model")],
    ["tokenizer.ggml.tokens", get("tokenizer.ggml.tokens")],
    ["tokenizer.ggml.scores", {
      type: GgufValueType.ARRAY,
      value: { itemType: GgufValueType.FLOAT32, items: new Array(tokens.items.length).fill(0) },
    }],
    ["tokenizer.ggml.token_type", get("tokenizer.ggml.token_type")],
    ["tokenizer.ggml.merges", get("tokenizer.ggml.merges")],
    ["tokenizer.ggml.bos_token_id", get("tokenizer.ggml.bos_token_id")],
    ["tokenizer.ggml.eos_token_id", eos],
    ["tokenizer.ggml.padding_token_id", eos],
    ["tokenizer.chat_template", str(B158_CHAT_TEMPLATE)],
    ...tail,
  ];
}

/** A chat template in the official file's style (`Role: text<|eot_id|>`); its text is this generator's own. */
const B158_CHAT_TEMPLATE = "{% for message in messages %}{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}" +
  "{{ message['role'] | capitalize }}: {{ message['content'] }}<|eot_id|>{% endfor %}" +
  "{% if add_generation_prompt %}Assistant: {% endif %}";

/** Tensors of one block in the official file's order (Hugging Face's sorted names, mapped to GGUF names). */
const B158_BLOCK_ORDER = [
  "attn_norm",
  "ffn_down",
  "ffn_sub_norm",
  "ffn_gate",
  "ffn_up",
  "ffn_norm",
  "attn_sub_norm",
  "attn_k",
  "attn_output",
  "attn_q",
  "attn_v",
];

/**
 * The manifest in the official file's tensor order: `token_embd.weight`, the blocks in the lexical order of their
 * index (`blk.0`, `blk.1`, `blk.10`, ..., as the converter walks the sorted checkpoint names), each in
 * {@link B158_BLOCK_ORDER} (an optional `.scale` right after its weight), then `output_norm.weight` and any other
 * tensor.
 */
function officialB158Order<T extends { readonly name: string }>(manifest: readonly T[]): T[] {
  const rank = (name: string): [number, string, number] => {
    if (name === "token_embd.weight") return [0, "", 0];
    const m = /^blk\.(\d+)\.(\w+)\.(weight|scale)$/.exec(name);
    if (!m) return [2, name, 0];
    const i = B158_BLOCK_ORDER.indexOf(m[2]);
    return [1, m[1], (i < 0 ? B158_BLOCK_ORDER.length : i) * 2 + (m[3] === "scale" ? 1 : 0)];
  };
  return [...manifest].sort((a, b) => {
    const [x, y] = [rank(a.name), rank(b.name)];
    return x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0) || x[2] - y[2];
  });
}
