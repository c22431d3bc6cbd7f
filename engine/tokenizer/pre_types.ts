/**
 * How llama.cpp maps the GGUF key `tokenizer.ggml.pre` to a pre-tokenizer type and the load-time flags that
 * come with it (`llama_vocab::impl::load`, src/llama-vocab.cpp:2154-2437 at the pinned commit). Names map to
 * `LLAMA_VOCAB_PRE_TYPE_*` without the prefix, lowercased (`llama3`, `gpt2`, ...).
 *
 * @module
 */

/** Load-time settings a `tokenizer.ggml.pre` value implies for a BPE vocabulary. */
export interface PreTypeInfo {
  /** `LLAMA_VOCAB_PRE_TYPE_*` without the prefix, lowercased. */
  readonly type: string;
  /** `ignore_merges`: a pre-tokenized word that is itself a token is emitted whole. */
  readonly ignoreMerges?: boolean;
  /** Default `add_bos` before `tokenizer.ggml.add_bos_token` is read. */
  readonly addBos?: boolean;
  /** `clean_spaces` (detokenizer clean-up); BPE default is true. */
  readonly cleanSpaces?: boolean;
  /** `escape_whitespaces`: spaces become U+2581 before BPE (SPM-style BPE). */
  readonly escapeWhitespaces?: boolean;
  /** `add_sep` default. */
  readonly addSep?: boolean;
  /** The default BOS id is cleared (chatglm). */
  readonly noDefaultBos?: boolean;
}

const t = (type: string, extra: Omit<PreTypeInfo, "type"> = {}): PreTypeInfo => ({ type, ...extra });
const noClean = { cleanSpaces: false } as const;

// Order and grouping follow the if/else chain in llama-vocab.cpp so a reader can diff the two.
const ENTRIES: [readonly string[], PreTypeInfo][] = [
  [["default"], t("default")],
  [["minicpm5"], t("minicpm5", { ignoreMerges: true })],
  [
    ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"],
    t("llama3", { ignoreMerges: true, addBos: true }),
  ],
  [["deepseek-llm"], t("deepseek_llm", noClean)],
  [["deepseek-coder"], t("deepseek_coder", noClean)],
  [["deepseek-v3"], t("deepseek3_llm", noClean)],
  [["spark2_5"], t("spark2_5", noClean)],
  [["youtu"], t("youtu", { cleanSpaces: false, ignoreMerges: true })],
  [["falcon"], t("falcon")],
  [["mpt"], t("mpt")],
  [["starcoder"], t("starcoder")],
  [
    [
      "gpt-2",
      "phi-2",
      "jina-es",
      "jina-de",
      "gigachat",
      "jina-v2-es",
      "jina-v2-de",
      "a.x-4.0",
      "mellum",
      "modern-bert",
    ],
    t("gpt2"),
  ],
  [["jais-2"], t("jais2")],
  [["gemma4", "granite-embed-multi-311m"], t("gemma4", { escapeWhitespaces: true })],
  [["sarvam-moe"], t("sarvam_moe", { escapeWhitespaces: true, cleanSpaces: false })],
  [["jina-v1-en", "jina-v2-code", "roberta-bpe"], t("gpt2", { addSep: true })],
  [["whitespace"], t("whitespace")],
  [["refact"], t("refact")],
  [["command-r"], t("command_r", noClean)],
  [["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2"], t("qwen2", noClean)],
  [["qwen35"], t("qwen35", noClean)],
  [["stablelm2"], t("stablelm2")],
  [["olmo"], t("olmo")],
  [["dbrx"], t("dbrx")],
  [["smaug-bpe"], t("smaug")],
  [["poro-chat"], t("poro", noClean)],
  [["glm4", "chatglm-bpe"], t("chatglm4", { noDefaultBos: true })],
  [["viking"], t("viking", noClean)],
  [["jais"], t("jais")],
  [["tekken"], t("tekken", { cleanSpaces: false, ignoreMerges: true, addBos: true })],
  [["smollm"], t("smollm", noClean)],
  [["codeshell"], t("codeshell")],
  [["bloom"], t("bloom")],
  [["gpt3-finnish"], t("gpt3_finnish")],
  [["exaone"], t("exaone")],
  [["exaone4"], t("gpt2")],
  [["exaone-moe"], t("exaone_moe")],
  [["chameleon"], t("chameleon", { addBos: true, cleanSpaces: false })],
  [["minerva-7b"], t("minerva")],
  [["megrez"], t("qwen2")],
  [["gpt-4o", "llama4", "kanana2", "talkie"], t("gpt4o", noClean)],
  [["granite-embed-multi-97m"], t("granite_emb_multi", { cleanSpaces: false, ignoreMerges: true })],
  [["tiny_aya", "cohere2moe"], t("tiny_aya", noClean)],
  [["superbpe"], t("superbpe", noClean)],
  [["trillion"], t("trillion", noClean)],
  [["granite-docling"], t("granite_docling", noClean)],
  [["bailingmoe", "bailingmoe2", "llada-moe"], t("bailingmoe", noClean)],
  [["seed-coder"], t("seed_coder", noClean)],
  [["hunyuan"], t("hunyuan", noClean)],
  [["hunyuan-dense"], t("hunyuan_dense", noClean)],
  [["hy_v4"], t("hy_v4", noClean)],
  [["joyai-llm"], t("joyai_llm", noClean)],
  [["kimi-k2"], t("kimi_k2", noClean)],
  [["ufakzeka"], t("ufakzeka", noClean)],
  [["grok-2"], t("grok_2", noClean)],
  [["afmoe"], t("afmoe", noClean)],
  [["laguna"], t("laguna", noClean)],
  [["minimax-m2"], t("minimax_m2", noClean)],
  [["solar-open"], t("solar_open", noClean)],
  [["mellum2"], t("mellum2")],
];

/** Every `tokenizer.ggml.pre` value the pinned llama.cpp accepts, with what it implies. */
export const PRE_TYPE_BY_NAME: ReadonlyMap<string, PreTypeInfo> = new Map(
  ENTRIES.flatMap(([names, info]) => names.map((n) => [n, info] as const)),
);

/**
 * Resolve a `tokenizer.ggml.pre` value like llama.cpp does: absent or empty means `default` (llama.cpp logs a
 * "GENERATION QUALITY WILL BE DEGRADED" warning).
 *
 * @param pre The metadata value, or `undefined` when the key is absent.
 * @returns The pre-tokenizer type and its load-time flags.
 * @throws {RangeError} For a name llama.cpp rejects ("unknown pre-tokenizer type").
 * @example
 * ```ts
 * import { resolvePreType } from "./pre_types.ts";
 * console.log(resolvePreType("llama-bpe").type); // "llama3"
 * ```
 */
export function resolvePreType(pre: string | undefined): PreTypeInfo {
  if (pre === undefined || pre === "") return PRE_TYPE_BY_NAME.get("default")!;
  const info = PRE_TYPE_BY_NAME.get(pre);
  if (!info) {
    throw new RangeError(
      `Cannot resolve pre-tokenizer "${pre}": llama.cpp (pinned release) has no such tokenizer.ggml.pre value. ` +
        `Known: ${[...PRE_TYPE_BY_NAME.keys()].join(", ")}`,
    );
  }
  return info;
}
