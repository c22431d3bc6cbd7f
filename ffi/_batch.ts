/**
 * One `llama_batch` for a single sequence, allocated once per context with `llama_batch_init` and refilled for
 * every `llama_decode`. The arrays live in C memory (owned by the batch until `llama_batch_free`); we write them
 * through views, and pass the struct itself by value.
 *
 * @module
 */

import { LLAMA_BATCH, readField, writeField } from "./struct_layout.ts";
import type { LlamaSymbols } from "./_symbols.ts";

/** A reusable single-sequence batch of up to `capacity` tokens. */
export class LlamaBatch {
  /** Maximum tokens per fill. */
  readonly capacity: number;
  /** The `struct llama_batch` bytes, passed by value to `llama_decode`. */
  readonly struct: Uint8Array<ArrayBuffer>;
  readonly #s: LlamaSymbols;
  readonly #token: Int32Array;
  readonly #pos: Int32Array;
  readonly #logits: Int8Array;
  #freed = false;

  /**
   * Allocate the batch.
   *
   * @param symbols Resolved library symbols.
   * @param capacity Tokens per decode (the context's `n_batch`).
   * @throws {Error} When llama.cpp could not allocate the arrays.
   */
  constructor(symbols: LlamaSymbols, capacity: number) {
    this.#s = symbols;
    this.capacity = capacity;
    // llama_batch_init(n_tokens, embd = 0, n_seq_max = 1): token/pos/n_seq_id/logits of n entries, seq_id of
    // n + 1 pointers (NULL-terminated) to n_seq_max ids each; all uninitialised (include/llama.h).
    const b = symbols.llama.llama_batch_init(capacity, 0, 1) as Uint8Array<ArrayBuffer>;
    this.struct = b;
    const arr = (field: string, bytes: number) => {
      const p = Deno.UnsafePointer.create(readField(b, LLAMA_BATCH, field) as bigint);
      if (!p) {
        symbols.llama.llama_batch_free(b);
        throw new Error(`Cannot allocate a llama_batch of ${capacity} tokens: ${field} is NULL. Lower batch.`);
      }
      return Deno.UnsafePointerView.getArrayBuffer(p, bytes);
    };
    const n = capacity;
    this.#token = new Int32Array(arr("token", 4 * n));
    this.#pos = new Int32Array(arr("pos", 4 * n));
    this.#logits = new Int8Array(arr("logits", n));
    // Every token belongs to exactly one sequence, id 0: set once, never changes.
    new Int32Array(arr("n_seq_id", 4 * n)).fill(1);
    const seqIds = new BigUint64Array(arr("seq_id", 8 * n));
    for (let i = 0; i < n; i++) {
      new Int32Array(Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(seqIds[i])!, 4))[0] = 0;
    }
  }

  /**
   * Fill the batch with `ids[start .. start + count)` at positions `pos0 ..`.
   *
   * @param ids Token ids.
   * @param range `start`, `count`, first position `pos0`, and `output(i)`: whether token `start + i` needs logits.
   * @throws {RangeError} When `count` exceeds the capacity.
   */
  fill(
    ids: ArrayLike<number>,
    range: { start: number; count: number; pos0: number; output: (i: number) => boolean },
  ): void {
    if (range.count > this.capacity) {
      throw new RangeError(`Cannot fill ${range.count} tokens into a llama_batch of ${this.capacity}`);
    }
    for (let i = 0; i < range.count; i++) {
      this.#token[i] = ids[range.start + i];
      this.#pos[i] = range.pos0 + i;
      this.#logits[i] = range.output(range.start + i) ? 1 : 0;
    }
    writeField(this.struct, LLAMA_BATCH, "n_tokens", range.count);
  }

  /** `llama_batch_free`; once. */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.#s.llama.llama_batch_free(this.struct);
  }
}
