/**
 * {@link StreamDecoder}: turn generated tokens into text as they arrive, emitting only complete UTF-8
 * characters. Byte-level pieces often split a character (an emoji is several byte tokens), so pieces are
 * buffered until the character is whole. This is the WHATWG `TextDecoder` in streaming mode, so the emitted
 * text (plus `flush()`) equals `TextDecoder` over the concatenated pieces, invalid bytes included.
 *
 * @module
 */

import type { PieceOptions, Tokenizer } from "./tokenizer.ts";

/** Options of {@link StreamDecoder}. */
export interface StreamDecoderOptions extends PieceOptions {
  /**
   * Drop the leading space of the first piece when the vocabulary adds a space prefix (SPM), like
   * `llama_detokenize` does. Default true.
   */
  readonly stripSpacePrefix?: boolean;
}

/**
 * Incremental detokenizer.
 *
 * @example
 * ```ts
 * import { StreamDecoder } from "./stream_decoder.ts";
 * import { Tokenizer } from "./tokenizer.ts";
 * import { GgufFile } from "../gguf/file.ts";
 * import { writeSyntheticModel } from "../synth/write.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * using file = GgufFile.open(path);
 * const tok = Tokenizer.fromGguf(file);
 * const dec = new StreamDecoder(tok);
 * let text = "";
 * // "🦙" is several byte tokens: the text appears only once its last byte arrives.
 * for (const id of tok.encode("🦙", { addSpecial: false })) text += dec.push(id);
 * text += dec.flush();
 * console.log(text); // 🦙
 * ```
 */
export class StreamDecoder {
  #tok: Tokenizer;
  #special: boolean;
  #strip: boolean;
  #first = true;
  // ignoreBOM: a generated U+FEFF is text, not a byte-order mark to drop.
  #decoder = new TextDecoder("utf-8", { ignoreBOM: true });

  /**
   * Create a decoder for one stream of tokens.
   *
   * @param tokenizer The tokenizer whose pieces are decoded.
   * @param opts `special` (default false): render control tokens as text; `stripSpacePrefix` (default true).
   */
  constructor(tokenizer: Tokenizer, opts: StreamDecoderOptions = {}) {
    this.#tok = tokenizer;
    this.#special = opts.special ?? false;
    this.#strip = (opts.stripSpacePrefix ?? true) && tokenizer.vocab.addSpacePrefix;
  }

  /**
   * Add one token.
   *
   * @param id Token id.
   * @returns The text that became complete (possibly empty).
   * @throws {RangeError} For an id outside the vocabulary.
   */
  push(id: number): string {
    let piece = this.#tok.tokenToPieceBytes(id, { special: this.#special });
    if (this.#first && this.#strip && piece.length > 0 && piece[0] === 0x20) piece = piece.subarray(1);
    this.#first = false;
    return this.#decoder.decode(piece, { stream: true });
  }

  /**
   * Emit whatever is buffered (an unfinished character becomes U+FFFD) and reset.
   *
   * @returns The remaining text.
   */
  flush(): string {
    this.#first = true;
    return this.#decoder.decode();
  }
}
