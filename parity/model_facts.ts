/**
 * Facts about a model file for a parity receipt, read from the file itself (not from either engine, so neither
 * side can vouch for itself): SHA-256, size, architecture, weight and embedding types, layer count, and the
 * tokenizer's identity.
 *
 * The vocabulary hash is computed from the file with the same formula as the engine tokenizer's `identity.sha256`
 * (engine/tokenizer/tokenizer.ts): for "tokens", "merges" (UTF-8 strings) and "types" (int32): the ASCII tag, a
 * u32 LE count, then every item (strings as u32 LE byte length + bytes, types as i32 LE). The receipt records the
 * file's value and the engine's own, so a tokenizer that parsed the file differently is visible.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { GgufFile } from "../engine/gguf/mod.ts";
import { weightTypeNames } from "../engine/model/manifest.ts";
import { sha256File } from "../lock/mod.ts";
import type { ModelInfoJson, TokenizerIdentity } from "../receipts/parity_receipt.ts";

/** What {@link describeModelFile} returns. */
export interface ModelFacts {
  /** The receipt's model block. */
  readonly model: ModelInfoJson;
  /** The receipt's tokenizer block, null when the file has no tokenizer. */
  readonly tokenizer: TokenizerIdentity | null;
}

/**
 * SHA-256 of a vocabulary (the engine tokenizer's identity formula), from GGUF arrays.
 *
 * @param vocab `tokens` (`tokenizer.ggml.tokens`), `merges` (`tokenizer.ggml.merges`, empty for SPM), `types`
 *   (`tokenizer.ggml.token_type`, empty when absent).
 * @returns Hex digest.
 * @example
 * ```ts
 * import { vocabHash } from "./model_facts.ts";
 * console.log(vocabHash({ tokens: ["a", "b"], merges: [], types: [] }).length); // 64
 * ```
 */
export function vocabHash(vocab: {
  readonly tokens: ArrayLike<unknown>;
  readonly merges: ArrayLike<unknown>;
  readonly types: ArrayLike<number | bigint>;
}): string {
  const { tokens, merges, types } = vocab;
  const h = createHash("sha256");
  const enc = new TextEncoder();
  const u32 = (n: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n, true);
    h.update(b);
  };
  const strs = (tag: string, items: ArrayLike<unknown>) => {
    h.update(tag);
    u32(items.length);
    for (let i = 0; i < items.length; i++) {
      const b = enc.encode(String(items[i]));
      u32(b.length);
      h.update(b);
    }
  };
  strs("tokens", tokens);
  strs("merges", merges);
  h.update("types");
  u32(types.length);
  const t = new Int32Array(types.length);
  for (let i = 0; i < types.length; i++) t[i] = Number(types[i]);
  h.update(new Uint8Array(t.buffer));
  return h.digest("hex");
}

/**
 * Read a model file's facts.
 *
 * @param path GGUF path.
 * @param opts `lockName` when it came from the lockfile; `sha256` when already known and verified (skips hashing).
 * @returns Model and tokenizer blocks.
 * @throws {Deno.errors.NotFound} When the file does not exist.
 * @throws {SyntaxError} When it is not a readable GGUF file.
 * @example
 * ```ts
 * import { describeModelFile } from "./model_facts.ts";
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * const { model, tokenizer } = await describeModelFile(path);
 * console.log(model.sha256, tokenizer?.vocab_sha256);
 * ```
 */
export async function describeModelFile(
  path: string,
  opts: { readonly lockName?: string | null; readonly sha256?: string | null } = {},
): Promise<ModelFacts> {
  const sha256 = opts.sha256 ?? await sha256File(path);
  const size_bytes = (await Deno.stat(path)).size;
  using f = GgufFile.open(path);
  const arch = f.architecture;
  const nLayer = f.getNumber(`${arch}.block_count`);
  const weights = weightTypeNames(f.tensors);
  const tokens = f.has("tokenizer.ggml.tokens") ? f.getArray("tokenizer.ggml.tokens")!.items : undefined;
  const model: ModelInfoJson = {
    path,
    lock_name: opts.lockName ?? null,
    sha256,
    size_bytes,
    arch,
    weight_type: weights.projections.length ? weights.projections.join("+") : null,
    embedding_type: weights.embedding,
    n_layer: nLayer ?? null,
    n_vocab: tokens ? tokens.length : null,
  };
  if (!tokens) return { model, tokenizer: null };
  const tokModel = f.getString("tokenizer.ggml.model") ?? "";
  const pre = f.has("tokenizer.ggml.pre") ? f.getString("tokenizer.ggml.pre")! : null;
  const merges = f.has("tokenizer.ggml.merges") ? f.getArray("tokenizer.ggml.merges")!.items : [];
  const types = f.has("tokenizer.ggml.token_type") ? f.getArray("tokenizer.ggml.token_type")!.items : [];
  const vocab_sha256 = vocabHash({
    tokens: tokens as ArrayLike<unknown>,
    merges: merges as ArrayLike<unknown>,
    types: types as ArrayLike<number | bigint>,
  });
  const idOrNull = (key: string) => {
    const v = f.getNumber(key);
    return v === undefined ? null : v;
  };
  const bos_id = idOrNull("tokenizer.ggml.bos_token_id"), eos_id = idOrNull("tokenizer.ggml.eos_token_id");
  // Without the keys llama.cpp decides by pre-tokenizer type (src/llama-vocab.cpp); the harness then records the
  // reference's effective llama_vocab_get_add_bos/eos instead of guessing here.
  const add_bos = f.has("tokenizer.ggml.add_bos_token") ? f.getBool("tokenizer.ggml.add_bos_token")! : null;
  const add_eos = f.has("tokenizer.ggml.add_eos_token") ? f.getBool("tokenizer.ggml.add_eos_token")! : null;
  return {
    model,
    tokenizer: {
      model: tokModel,
      pre,
      vocab_sha256,
      n_tokens: tokens.length,
      add_bos,
      add_eos,
      bos_id,
      eos_id,
      parse_special: [false, true],
    },
  };
}
