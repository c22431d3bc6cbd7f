/**
 * What the harness needs from each side of a comparison. {@link runParity} takes two of these (our engine, the
 * reference) and never constructs them, so it can be driven by anything that implements this small interface:
 * `EngineSubject` (engine/), `CppSubject` (ffi/), or a deliberately broken engine in the fault tests.
 *
 * Every array returned is owned by the caller (a copy), so both sides' results can be held side by side.
 *
 * @module
 */

import type { EngineInfoJson, ReferenceInfo } from "../receipts/parity_receipt.ts";

/** Tokenization variant. */
export interface TokenizeVariant {
  /** Add BOS/EOS as the vocabulary says. */
  readonly addSpecial: boolean;
  /** Turn special-token text into special tokens. */
  readonly parseSpecial: boolean;
}

/** A named intermediate, row-major `[rows][cols]` (rows = tokens). */
export interface NamedTensor {
  /** Rows (tokens). */
  readonly rows: number;
  /** Values per row. */
  readonly cols: number;
  /** `rows * cols` values. */
  readonly data: Float32Array;
}

/** One side of a parity comparison. */
export interface ParitySubject {
  /** Logit row length. */
  readonly nVocab: number;
  /** Context length (prompt + generated tokens must fit). */
  readonly nCtx: number;
  /**
   * Tokenize text.
   *
   * @param text Input.
   * @param variant add_special / parse_special.
   */
  tokenize(text: string, variant: TokenizeVariant): Int32Array | Promise<Int32Array>;
  /**
   * Text of one token for reports (special tokens rendered as their text).
   *
   * @param id Token id.
   */
  piece(id: number): string;
  /**
   * Logits of every position of a fresh sequence (cache cleared first), `[n][nVocab]`.
   *
   * @param ids Tokens.
   */
  evalAll(ids: Int32Array): Float32Array | Promise<Float32Array>;
  /**
   * Start a fresh sequence and return the last position's logits (`[nVocab]`).
   *
   * @param ids Prompt tokens.
   */
  begin(ids: Int32Array): Float32Array | Promise<Float32Array>;
  /**
   * Append one token to the current sequence and return its logits.
   *
   * @param id Token.
   */
  step(id: number): Float32Array | Promise<Float32Array>;
  /**
   * Named intermediates (llama.cpp graph names: `attn_norm-0`, ..., `result_output`) of evaluating `ids` from
   * position 0 with logits for every position. May be slower (a capture-enabled instance).
   *
   * @param ids Tokens.
   */
  capture(ids: Int32Array): Promise<ReadonlyMap<string, NamedTensor>>;
}

/** Our engine's side: adds what the receipt records about it. */
export interface EngineParitySubject extends ParitySubject {
  /** Backend, threads, kernels that ran (read after the run), faults. */
  describe(): Omit<EngineInfoJson, "ran" | "error">;
}

/** The reference's side: adds what the receipt records about it. */
export interface ReferenceParitySubject extends ParitySubject {
  /** Library version, commit, settings in effect. */
  describe(): Omit<ReferenceInfo, "ran" | "error" | "timeout_ms">;
}
