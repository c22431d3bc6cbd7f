/**
 * The text-based special-token pass of `llama_vocab::impl::load` (src/llama-vocab.cpp:2670-3027 and 3066-3130 at
 * the pinned commit): EOT/EOM/FIM tokens found by their text, "unused" control tokens, the end-of-generation set
 * with its model-specific exceptions, and attributes set by model name (phi-3 RSTRIP, jina/modern-bert LSTRIP).
 *
 * @module
 */

import type { GgufFile } from "../gguf/mod.ts";
import { TOKEN_NULL, TokenAttr } from "./token_attr.ts";
import type { SpecialIds } from "./vocab.ts";

// Text-based detection lists, llama-vocab.cpp:2677-2891.
const EOT_TEXTS = [
  "<|eot_id|>",
  "<|im_end|>",
  "<|end|>",
  "<end_of_turn>",
  "<|endoftext|>",
  "<|end_of_text|>", // granite
  "<EOT>",
  "_<EOT>",
  "[EOT]", // Kimi-K2
  "<｜end▁of▁sentence｜>", // DeepSeek
  "<end_of_utterance>", // smoldocling
];
const EOM_TEXTS = ["<|eom_id|>"];
const FIM_TEXTS: [keyof SpecialIds, string[]][] = [
  [
    "fimPre",
    [
      "<|fim_prefix|>",
      "<fim-prefix>",
      "<fim_prefix>",
      "<｜fim▁begin｜>",
      "<PRE>",
      "▁<PRE>",
      "<|code_prefix|>",
      "<|prefix|>",
    ],
  ],
  [
    "fimSuf",
    [
      "<|fim_suffix|>",
      "<fim-suffix>",
      "<fim_suffix>",
      "<｜fim▁hole｜>",
      "<SUF>",
      "▁<SUF>",
      "<|code_suffix|>",
      "<|suffix|>",
    ],
  ],
  [
    "fimMid",
    [
      "<|fim_middle|>",
      "<fim-middle>",
      "<fim_middle>",
      "<｜fim▁end｜>",
      "<MID>",
      "▁<MID>",
      "<|code_middle|>",
      "<|middle|>",
    ],
  ],
  ["fimPad", ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]],
  ["fimRep", ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]],
  ["fimSep", ["<|file_sep|>"]],
];
const EOG_TEXTS = new Set([
  "<|eot_id|>",
  "<|im_end|>",
  "<|end|>",
  "<|return|>", // o200k_harmony
  "<|call|>", // o200k_harmony
  "<|flush|>", // solar-open
  "<|calls|>", // solar-open
  "<end_of_turn>",
  "<|endoftext|>",
  "</s>", // paddleocr
  "<|eom_id|>",
  "<EOT>",
  "_<EOT>",
  "[EOT]", // Kimi-K2
  "[EOS]", // Kimi-K2
  "<|end_of_text|>",
  "<end_of_utterance>", // smoldocling
  "<eos>", // gemma4
  "<turn|>", // gemma4
  "<|tool_response>", // gemma4
  "<｜end▁of▁sentence｜>", // deepseek-ocr
  "[e~[", // minimax-m2/m3
]);

/**
 * The auto-detection pass (llama-vocab.cpp:2670-3027). llama.cpp walks an unordered_map, so when a vocabulary
 * holds two candidates for one role (Llama 3: `<|eot_id|>` and `<|end_of_text|>`) the pick depends on
 * libstdc++'s hash order. We pick the first candidate in llama.cpp's list order, which agrees with the pinned
 * library on every vocabulary shipped with it (checked by tests/tokenizer_differential_test.ts).
 */
export function autoDetectSpecials(
  tokens: readonly string[],
  tokenToId: ReadonlyMap<string, number>,
  attrs: Uint32Array,
  sp: SpecialIds,
): Set<number> {
  const pick = (field: keyof SpecialIds, texts: readonly string[]) => {
    if (sp[field] !== TOKEN_NULL) return;
    for (const t of texts) {
      const id = tokenToId.get(t);
      if (id === undefined) continue;
      sp[field] = id;
      attrs[id] |= TokenAttr.CONTROL; // "control-looking token ... its type will be overridden"
      return;
    }
  };
  pick("eot", EOT_TEXTS);
  pick("eom", EOM_TEXTS);
  for (const [field, texts] of FIM_TEXTS) pick(field, texts);

  // auto-detect unused tokens: control tokens with the word "unused"
  for (const [text, id] of tokenToId) {
    if (attrs[id] & TokenAttr.CONTROL && text.includes("unused")) attrs[id] |= TokenAttr.UNUSED;
  }

  const eog = new Set<number>();
  for (const id of [sp.fimPad, sp.fimRep, sp.fimSep]) if (id !== TOKEN_NULL) eog.add(id);
  for (const [text, id] of tokenToId) {
    if (EOG_TEXTS.has(text)) {
      eog.add(id);
      attrs[id] |= TokenAttr.CONTROL;
    }
  }
  // @ngxson : quick hack for gpt-oss, always render these tokens
  for (const t of ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"]) {
    const id = tokenToId.get(t);
    if (id !== undefined) attrs[id] = TokenAttr.USER_DEFINED;
  }
  // sanity checks
  for (const id of [sp.eos, sp.eot, sp.eom]) if (id !== TOKEN_NULL) eog.add(id);

  const idOf = (t: string) => [...eog].find((id) => tokens[id] === t);
  const hasText = (t: string) => idOf(t) !== undefined;
  // o200k_harmony / solar-open: "<|end|>" is not EOG when "<|return|>"+"<|call|>" or "<|calls|>"+"<|flush|>" exist
  const hasCall = hasText("<|call|>") || hasText("<|calls|>");
  if (((hasText("<|return|>") && hasCall) || (hasCall && hasText("<|flush|>"))) && hasText("<|end|>")) {
    const end = idOf("<|end|>")!;
    eog.delete(end);
    attrs[end] = TokenAttr.USER_DEFINED;
  }
  // gemma4 and paddleocr: "</s>" is not EOG when "<|tool_response>" is
  if (hasText("<|tool_response>") && hasText("</s>")) {
    const s = idOf("</s>")!;
    eog.delete(s);
    attrs[s] = TokenAttr.NORMAL;
  }
  return eog;
}

/** Per-model attributes set by name (llama-vocab.cpp:3066-3130). */
export function perModelAttrs(
  file: GgufFile,
  tokenToId: ReadonlyMap<string, number>,
  attrs: Uint32Array,
  special: readonly number[],
): void {
  const modelName = (file.getString("general.name") ?? "").replace(/[A-Z]/g, (c) => c.toLowerCase());
  const pre = file.getString("tokenizer.ggml.pre") ?? "";
  const arch = file.getString("general.architecture") ?? "";
  const any = (s: string, subs: string[]) => subs.some((x) => s.includes(x));
  const set = (text: string, attr: number, value: boolean) => {
    const id = tokenToId.get(text);
    if (id === undefined) {
      throw new RangeError(`Cannot load the vocabulary: token "${text}" is missing (llama.cpp: token_to_id.at throws)`);
    }
    attrs[id] = value ? attrs[id] | attr : attrs[id] & ~attr;
  };
  if (any(pre, ["jina-v2-de", "jina-v2-es", "jina-v2-code"]) || any(arch, ["nomic-bert-moe", "jina-bert-v3"])) {
    if (tokenToId.has("<mask>")) set("<mask>", TokenAttr.LSTRIP, true);
  } else if (any(modelName, ["phi-3", "phi3"])) {
    for (const id of special) attrs[id] |= TokenAttr.RSTRIP;
    set("</s>", TokenAttr.RSTRIP, true);
    for (const t of ["<unk>", "<s>", "<|endoftext|>"]) set(t, TokenAttr.RSTRIP, false);
  } else if (any(modelName, ["modern-bert"])) {
    if (tokenToId.has("[MASK]")) set("[MASK]", TokenAttr.LSTRIP, true);
  }
}
