/**
 * The C functions the binding calls, with their Deno FFI signatures, per shared library. Signatures are copied
 * from the pinned headers (`include/llama.h`, `ggml/include/ggml.h`, `ggml/include/ggml-backend.h` at v0.5.0);
 * struct-by-value parameters and results use the layouts proved in `struct_layout_test.ts`.
 * Every symbol is `optional` so a library lacking one is reported by name instead of failing inside `dlopen`.
 *
 * @module
 */

import { denoStructType, LLAMA_BATCH, LLAMA_CONTEXT_PARAMS, LLAMA_MODEL_PARAMS } from "./struct_layout.ts";

const MODEL_PARAMS: Deno.NativeStructType = denoStructType(LLAMA_MODEL_PARAMS);
const CONTEXT_PARAMS: Deno.NativeStructType = denoStructType(LLAMA_CONTEXT_PARAMS);
const BATCH: Deno.NativeStructType = denoStructType(LLAMA_BATCH);

/** `libllama` symbols. Pointers returned as `pointer` are owned by llama.cpp unless a `*_free` is named. */
export const LLAMA_SYMBOLS = {
  /** `const char * llama_version(void)`: static string. */
  llama_version: { parameters: [], result: "pointer", optional: true },
  /** `const char * llama_print_system_info(void)`: static buffer, overwritten by the next call. */
  llama_print_system_info: { parameters: [], result: "pointer", optional: true },
  /** `void llama_log_set(ggml_log_callback, void * user_data)`: global, also sets ggml's logger. */
  llama_log_set: { parameters: ["function", "pointer"], result: "void", optional: true },
  /** `void llama_backend_init(void)`. */
  llama_backend_init: { parameters: [], result: "void", optional: true },
  /** `struct llama_model_params llama_model_default_params(void)`. */
  llama_model_default_params: { parameters: [], result: MODEL_PARAMS, optional: true },
  /** `struct llama_context_params llama_context_default_params(void)`. */
  llama_context_default_params: { parameters: [], result: CONTEXT_PARAMS, optional: true },
  /** `struct llama_model * llama_model_load_from_file(const char * path, struct llama_model_params)`: NULL on failure; free with `llama_model_free`. */
  llama_model_load_from_file: { parameters: ["buffer", MODEL_PARAMS], result: "pointer", optional: true },
  /** `void llama_model_free(struct llama_model *)`. */
  llama_model_free: { parameters: ["pointer"], result: "void", optional: true },
  /** `struct llama_context * llama_init_from_model(struct llama_model *, struct llama_context_params)`: NULL on failure; free with `llama_free` before the model. */
  llama_init_from_model: { parameters: ["pointer", CONTEXT_PARAMS], result: "pointer", optional: true },
  /** `void llama_free(struct llama_context *)`. */
  llama_free: { parameters: ["pointer"], result: "void", optional: true },
  /** `const struct llama_vocab * llama_model_get_vocab(const struct llama_model *)`: owned by the model. */
  llama_model_get_vocab: { parameters: ["pointer"], result: "pointer", optional: true },
  /** `int32_t llama_vocab_n_tokens(const struct llama_vocab *)`. */
  llama_vocab_n_tokens: { parameters: ["pointer"], result: "i32", optional: true },
  /** `enum llama_vocab_type llama_vocab_type(const struct llama_vocab *)`. */
  llama_vocab_type: { parameters: ["pointer"], result: "i32", optional: true },
  /** `llama_token llama_vocab_bos(const struct llama_vocab *)`: -1 when absent. */
  llama_vocab_bos: { parameters: ["pointer"], result: "i32", optional: true },
  /** `llama_token llama_vocab_eos(const struct llama_vocab *)`: -1 when absent. */
  llama_vocab_eos: { parameters: ["pointer"], result: "i32", optional: true },
  /** `llama_token llama_vocab_eot(const struct llama_vocab *)`: end-of-turn, -1 when absent. */
  llama_vocab_eot: { parameters: ["pointer"], result: "i32", optional: true },
  /** `bool llama_vocab_is_eog(const struct llama_vocab *, llama_token)`. */
  llama_vocab_is_eog: { parameters: ["pointer", "i32"], result: "bool", optional: true },
  /** `bool llama_vocab_get_add_bos(const struct llama_vocab *)`. */
  llama_vocab_get_add_bos: { parameters: ["pointer"], result: "bool", optional: true },
  /** `bool llama_vocab_get_add_eos(const struct llama_vocab *)`. */
  llama_vocab_get_add_eos: { parameters: ["pointer"], result: "bool", optional: true },
  /** `int32_t llama_tokenize(vocab, const char * text, int32_t text_len, llama_token * tokens, int32_t n_tokens_max, bool add_special, bool parse_special)`: count, or -(needed) when `tokens` is too small, INT32_MIN on overflow. */
  llama_tokenize: {
    parameters: ["pointer", "buffer", "i32", "buffer", "i32", "bool", "bool"],
    result: "i32",
    optional: true,
  },
  /** `int32_t llama_token_to_piece(vocab, llama_token, char * buf, int32_t length, int32_t lstrip, bool special)`: bytes written (no NUL), or -(needed). */
  llama_token_to_piece: {
    parameters: ["pointer", "i32", "buffer", "i32", "i32", "bool"],
    result: "i32",
    optional: true,
  },
  /** `int32_t llama_detokenize(vocab, const llama_token *, int32_t n, char * text, int32_t text_len_max, bool remove_special, bool unparse_special)`: bytes, or -(needed). */
  llama_detokenize: {
    parameters: ["pointer", "buffer", "i32", "buffer", "i32", "bool", "bool"],
    result: "i32",
    optional: true,
  },
  /** `int32_t llama_model_n_ctx_train(const struct llama_model *)`. */
  llama_model_n_ctx_train: { parameters: ["pointer"], result: "i32", optional: true },
  /** `int32_t llama_model_n_embd(const struct llama_model *)`. */
  llama_model_n_embd: { parameters: ["pointer"], result: "i32", optional: true },
  /** `int32_t llama_model_n_layer(const struct llama_model *)`. */
  llama_model_n_layer: { parameters: ["pointer"], result: "i32", optional: true },
  /** `int32_t llama_model_n_head(const struct llama_model *)`. */
  llama_model_n_head: { parameters: ["pointer"], result: "i32", optional: true },
  /** `int32_t llama_model_n_head_kv(const struct llama_model *)`. */
  llama_model_n_head_kv: { parameters: ["pointer"], result: "i32", optional: true },
  /** `enum llama_rope_type llama_model_rope_type(const struct llama_model *)`. */
  llama_model_rope_type: { parameters: ["pointer"], result: "i32", optional: true },
  /** `uint64_t llama_model_n_params(const struct llama_model *)`. */
  llama_model_n_params: { parameters: ["pointer"], result: "u64", optional: true },
  /** `uint64_t llama_model_size(const struct llama_model *)`: bytes of all tensors. */
  llama_model_size: { parameters: ["pointer"], result: "u64", optional: true },
  /** `int32_t llama_model_desc(const struct llama_model *, char * buf, size_t buf_size)`: length, NUL-terminated. */
  llama_model_desc: { parameters: ["pointer", "buffer", "usize"], result: "i32", optional: true },
  /** `int32_t llama_model_meta_val_str(model, const char * key, char * buf, size_t buf_size)`: length or -1. */
  llama_model_meta_val_str: { parameters: ["pointer", "buffer", "buffer", "usize"], result: "i32", optional: true },
  /** `int32_t llama_model_meta_count(const struct llama_model *)`. */
  llama_model_meta_count: { parameters: ["pointer"], result: "i32", optional: true },
  /** `int32_t llama_model_meta_key_by_index(model, int32_t i, char * buf, size_t buf_size)`: length or -1. */
  llama_model_meta_key_by_index: { parameters: ["pointer", "i32", "buffer", "usize"], result: "i32", optional: true },
  /** `int32_t llama_model_meta_val_str_by_index(model, int32_t i, char * buf, size_t buf_size)`: length or -1. */
  llama_model_meta_val_str_by_index: {
    parameters: ["pointer", "i32", "buffer", "usize"],
    result: "i32",
    optional: true,
  },
  /** `uint32_t llama_n_ctx(const struct llama_context *)`: the size actually in effect. */
  llama_n_ctx: { parameters: ["pointer"], result: "u32", optional: true },
  /** `uint32_t llama_n_batch(const struct llama_context *)`. */
  llama_n_batch: { parameters: ["pointer"], result: "u32", optional: true },
  /** `uint32_t llama_n_ubatch(const struct llama_context *)`. */
  llama_n_ubatch: { parameters: ["pointer"], result: "u32", optional: true },
  /** `int32_t llama_n_threads(struct llama_context *)`. */
  llama_n_threads: { parameters: ["pointer"], result: "i32", optional: true },
  /** `int32_t llama_n_threads_batch(struct llama_context *)`. */
  llama_n_threads_batch: { parameters: ["pointer"], result: "i32", optional: true },
  /** `llama_memory_t llama_get_memory(const struct llama_context *)`: owned by the context. */
  llama_get_memory: { parameters: ["pointer"], result: "pointer", optional: true },
  /** `void llama_memory_clear(llama_memory_t, bool data)`. */
  llama_memory_clear: { parameters: ["pointer", "bool"], result: "void", optional: true },
  /** `llama_pos llama_memory_seq_pos_max(llama_memory_t, llama_seq_id)`: -1 when empty. */
  llama_memory_seq_pos_max: { parameters: ["pointer", "i32"], result: "i32", optional: true },
  /** `struct llama_batch llama_batch_init(int32_t n_tokens, int32_t embd, int32_t n_seq_max)`: arrays malloc'ed, uninitialised; free with `llama_batch_free`. */
  llama_batch_init: { parameters: ["i32", "i32", "i32"], result: BATCH, optional: true },
  /** `void llama_batch_free(struct llama_batch)`. */
  llama_batch_free: { parameters: [BATCH], result: "void", optional: true },
  /** `int32_t llama_decode(struct llama_context *, struct llama_batch)`: 0 ok, 1 no KV slot, 2 aborted, -1 invalid batch, < -1 fatal. */
  llama_decode: { parameters: ["pointer", BATCH], result: "i32", optional: true },
  /** `float * llama_get_logits(struct llama_context *)`: rows of the outputs in batch order; owned by the context. */
  llama_get_logits: { parameters: ["pointer"], result: "pointer", optional: true },
  /** `float * llama_get_logits_ith(struct llama_context *, int32_t i)`: NULL for an invalid index; owned by the context. */
  llama_get_logits_ith: { parameters: ["pointer", "i32"], result: "pointer", optional: true },
} as const satisfies Deno.ForeignLibraryInterface;

/** `libggml` symbols (backend registry). */
export const GGML_SYMBOLS = {
  /** `void ggml_backend_load_all_from_path(const char * dir_path)`: loads every backend found in the directory. */
  ggml_backend_load_all_from_path: { parameters: ["buffer"], result: "void", optional: true },
  /** `size_t ggml_backend_dev_count(void)`. */
  ggml_backend_dev_count: { parameters: [], result: "usize", optional: true },
  /** `ggml_backend_dev_t ggml_backend_dev_get(size_t index)`: owned by the registry. */
  ggml_backend_dev_get: { parameters: ["usize"], result: "pointer", optional: true },
} as const satisfies Deno.ForeignLibraryInterface;

/** `libggml-base` symbols (tensors, versions). */
export const GGML_BASE_SYMBOLS = {
  /** `const char * ggml_version(void)`: static string. */
  ggml_version: { parameters: [], result: "pointer", optional: true },
  /** `const char * ggml_commit(void)`: static string. */
  ggml_commit: { parameters: [], result: "pointer", optional: true },
  /** `const char * ggml_backend_dev_name(ggml_backend_dev_t)`. */
  ggml_backend_dev_name: { parameters: ["pointer"], result: "pointer", optional: true },
  /** `const char * ggml_backend_dev_description(ggml_backend_dev_t)`. */
  ggml_backend_dev_description: { parameters: ["pointer"], result: "pointer", optional: true },
  /** `void ggml_backend_tensor_get(const struct ggml_tensor *, void * data, size_t offset, size_t size)`: copies out of any backend buffer. */
  ggml_backend_tensor_get: { parameters: ["pointer", "buffer", "usize", "usize"], result: "void", optional: true },
  /** `size_t ggml_nbytes(const struct ggml_tensor *)`. */
  ggml_nbytes: { parameters: ["pointer"], result: "usize", optional: true },
  /** `bool ggml_is_contiguous(const struct ggml_tensor *)`. */
  ggml_is_contiguous: { parameters: ["pointer"], result: "bool", optional: true },
  /** `const char * ggml_type_name(enum ggml_type)`: static string. */
  ggml_type_name: { parameters: ["i32"], result: "pointer", optional: true },
} as const satisfies Deno.ForeignLibraryInterface;

/** Symbols with `optional` dropped: the loader checks every one is present before handing them out. */
type Resolved<S> = { readonly [K in keyof S]: NonNullable<S[K]> };

/** Symbols of the three libraries, all resolved (the loader refuses a library that lacks one). */
export interface LlamaSymbols {
  /** libllama. */
  readonly llama: Resolved<Deno.DynamicLibrary<typeof LLAMA_SYMBOLS>["symbols"]>;
  /** libggml. */
  readonly ggml: Resolved<Deno.DynamicLibrary<typeof GGML_SYMBOLS>["symbols"]>;
  /** libggml-base. */
  readonly base: Resolved<Deno.DynamicLibrary<typeof GGML_BASE_SYMBOLS>["symbols"]>;
}
