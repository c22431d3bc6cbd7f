/**
 * One repetition of one test on one engine, timed the way llama-bench times it (`tools/llama-bench/llama-bench.cpp`):
 * - `pp<N>` (prompt processing): clear the cache, then evaluate N tokens in one call (the engine batches them) up
 *   to the last position's logits; the time is the whole call.
 * - `tg<N>` (text generation): clear the cache, then N single-token decodes, each computing its logits; the time
 *   is all N decodes. Sampling is not timed (llama-bench: "measurements do not include the times for tokenization
 *   and for sampling"): the next token is drawn beforehand.
 * Token ids are random, as llama-bench's `std::rand() % n_vocab`, but seeded per test and repetition, so both
 * engines see the same ids in the same repetition, and a rerun sees the same ids again. When the vocabulary adds a
 * BOS token, sequences start with it (llama-bench does the same).
 *
 * @module
 */

import { Prng } from "../receipts/prng.ts";
import type { BenchSubject } from "./subject.ts";

/** A parsed llama-bench test name. */
export interface BenchTest {
  /** `pp512`, `tg128`. */
  readonly name: string;
  /** Prompt tokens (pp). */
  readonly nPrompt: number;
  /** Generated tokens (tg). */
  readonly nGen: number;
}

/** One timed repetition. */
export interface Repetition {
  /** Wall time, integer nanoseconds (at least 1). */
  readonly ns: number;
  /** Tokens per second: `1e9 * (nPrompt + nGen) / ns`. */
  readonly ts: number;
  /** Latency, ms: the whole prompt for pp, the mean per token for tg. */
  readonly latencyMs: number;
}

/**
 * Parse a llama-bench test name.
 *
 * @param name `pp<N>` or `tg<N>` with N >= 1.
 * @returns The test.
 * @throws {RangeError} For any other name.
 * @example
 * ```ts
 * import { parseTestName } from "./measure.ts";
 * console.log(parseTestName("tg128")); // { name: "tg128", nPrompt: 0, nGen: 128 }
 * ```
 */
export function parseTestName(name: string): BenchTest {
  const m = /^(pp|tg)([1-9][0-9]{0,5})$/.exec(name);
  if (!m) {
    throw new RangeError(
      `Invalid benchmark test "${name}": expected pp<N> (prompt processing) or tg<N> (generation), N from 1 to 999999`,
    );
  }
  const n = Number(m[2]);
  return { name, nPrompt: m[1] === "pp" ? n : 0, nGen: m[1] === "tg" ? n : 0 };
}

/**
 * Tokens per repetition of a test: N for `pp<N>` and `tg<N>`.
 *
 * @param test The test.
 * @returns `nPrompt + nGen`.
 */
export function testTokenCount(test: BenchTest): number {
  return test.nPrompt + test.nGen;
}

/**
 * The token ids of one repetition: seeded by (seed, test, repetition), so both engines and every rerun get the
 * same ids. Warmup repetitions use negative indices.
 *
 * @param test The test.
 * @param rep Repetition index (negative for warmup).
 * @param opts Seed, vocabulary size, and BOS id (first token when not null).
 * @returns `nPrompt + nGen` ids below `nVocab`.
 * @throws {RangeError} When `nVocab` is not a positive integer.
 * @example
 * ```ts
 * import { parseTestName, repetitionTokens } from "./measure.ts";
 * const ids = repetitionTokens(parseTestName("pp4"), 0, { seed: 1, nVocab: 1000, bos: 999 });
 * console.log(ids.length, ids[0]); // 4 999
 * ```
 */
export function repetitionTokens(
  test: BenchTest,
  rep: number,
  opts: { readonly seed: number; readonly nVocab: number; readonly bos: number | null },
): Int32Array {
  if (!Number.isInteger(opts.nVocab) || opts.nVocab < 1) {
    throw new RangeError(`Cannot draw token ids: the vocabulary size is ${opts.nVocab}`);
  }
  let h = opts.seed | 0;
  for (const c of `${test.name}#${rep}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  const rng = new Prng(h);
  const ids = new Int32Array(testTokenCount(test));
  for (let i = 0; i < ids.length; i++) ids[i] = i === 0 && opts.bos !== null ? opts.bos : rng.int(opts.nVocab);
  return ids;
}

/**
 * Time one repetition: clear the cache (untimed), then run the test's decodes.
 *
 * @param subject The engine.
 * @param test The test.
 * @param ids Its token ids (from {@link repetitionTokens}).
 * @returns Wall time, tokens/s and latency.
 * @throws {RangeError} When the ids do not fit the subject's context or their count is not the test's.
 * @throws Whatever the engine throws while decoding.
 * @example
 * ```ts
 * import { parseTestName, repetitionTokens, timeRepetition } from "./measure.ts";
 * import { engineBenchSubject } from "./subject.ts";
 * import { Engine } from "../engine/engine.ts";
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * using engine = await Engine.load(path, { threads: 1, nCtx: 64 });
 * const subject = engineBenchSubject(engine);
 * const test = parseTestName("tg16");
 * const r = await timeRepetition(subject, test, repetitionTokens(test, 0, { seed: 1, nVocab: subject.nVocab, bos: subject.bos }));
 * console.log(r.ts);
 * ```
 */
export async function timeRepetition(subject: BenchSubject, test: BenchTest, ids: Int32Array): Promise<Repetition> {
  const n = testTokenCount(test);
  if (ids.length !== n) throw new RangeError(`Cannot run ${test.name}: got ${ids.length} token ids, expected ${n}`);
  if (n > subject.nCtx) {
    throw new RangeError(
      `Cannot run ${test.name}: ${n} tokens do not fit the context of ${subject.nCtx}. Load with nCtx >= ${n}.`,
    );
  }
  const r = subject.reset();
  if (r) await r;
  let t0: number, t1: number;
  if (subject.timedDecode) {
    // The subject times itself (it runs in another process): sum what it measured, never the round trips.
    let ms = 0;
    if (test.nGen === 0) ms = await subject.timedDecode(ids);
    else for (let i = 0; i < n; i++) ms += await subject.timedDecode(ids.subarray(i, i + 1));
    t0 = 0;
    t1 = ms;
  } else if (test.nGen === 0) {
    t0 = performance.now();
    const p = subject.decode(ids);
    if (p) await p;
    t1 = performance.now();
  } else {
    const steps = Array.from({ length: n }, (_, i) => ids.subarray(i, i + 1));
    t0 = performance.now();
    for (const step of steps) {
      const p = subject.decode(step);
      if (p) await p;
    }
    t1 = performance.now();
  }
  const ns = Math.max(1, Math.round((t1 - t0) * 1e6));
  return { ns, ts: (1e9 * n) / ns, latencyMs: ns / 1e6 / (test.nGen === 0 ? 1 : test.nGen) };
}
