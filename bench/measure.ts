/**
 * One repetition of one test on one engine, timed the way llama-bench times it (`tools/llama-bench/llama-bench.cpp`):
 * - `pp<N>` (prompt processing): clear the cache, then evaluate N tokens in one call (the engine batches them) up
 *   to the last position's logits; the time is the whole call.
 * - `tg<N>` (text generation): clear the cache, then N single-token decodes, each computing its logits; the time
 *   is all N decodes. Sampling is not timed (llama-bench: "measurements do not include the times for tokenization
 *   and for sampling"): the next token is drawn beforehand.
 * - `<test>@d<D>` (llama-bench's `-d D`, printed there as `tg32 @ d512`): the same test with D tokens already in the
 *   cache: after clearing it, D tokens (seeded by the depth, the same in every repetition) are evaluated untimed
 *   first. A subject that can drop the cache back to a position ({@link BenchSubject.rewind}) is filled once and
 *   rewound to D before each later repetition, which leaves it in the same state as refilling (the same tokens at the
 *   same positions) without the minutes a refill of 2048 tokens costs.
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
  /** Tokens in the cache before the timed part (llama-bench `n_depth`; 0 without `@d<D>`). */
  readonly nDepth: number;
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
 * Parse a llama-bench test name, with an optional depth.
 *
 * @param name `pp<N>` or `tg<N>` with N >= 1, optionally followed by `@d<D>` (D tokens in the cache first).
 * @returns The test.
 * @throws {RangeError} For any other name.
 * @example
 * ```ts
 * import { parseTestName } from "./measure.ts";
 * console.log(parseTestName("tg128")); // { name: "tg128", nPrompt: 0, nGen: 128, nDepth: 0 }
 * console.log(parseTestName("tg32@d512").nDepth); // 512
 * ```
 */
export function parseTestName(name: string): BenchTest {
  const m = /^(pp|tg)([1-9][0-9]{0,5})(?:@d([1-9][0-9]{0,6}))?$/.exec(name);
  if (!m) {
    throw new RangeError(
      `Invalid benchmark test "${name}": expected pp<N> (prompt processing) or tg<N> (generation), N from 1 to ` +
        `999999, optionally @d<D> for a cache already holding D tokens (tg32@d512)`,
    );
  }
  const n = Number(m[2]);
  return { name, nPrompt: m[1] === "pp" ? n : 0, nGen: m[1] === "tg" ? n : 0, nDepth: m[3] ? Number(m[3]) : 0 };
}

/**
 * The test name of `base` (`tg32`) at a depth: `tg32@d512`, or `base` itself at depth 0.
 *
 * @param base `pp<N>` or `tg<N>`.
 * @param depth Tokens in the cache first.
 * @returns The name.
 * @example
 * ```ts
 * import { testAtDepth } from "./measure.ts";
 * console.log(testAtDepth("tg32", 2048), testAtDepth("tg32", 0)); // tg32@d2048 tg32
 * ```
 */
export function testAtDepth(base: string, depth: number): string {
  return depth > 0 ? `${base}@d${depth}` : base;
}

/**
 * Tokens per repetition of a test: N for `pp<N>` and `tg<N>` (the timed tokens; the depth is not counted).
 *
 * @param test The test.
 * @returns `nPrompt + nGen`.
 */
export function testTokenCount(test: BenchTest): number {
  return test.nPrompt + test.nGen;
}

/**
 * Context a test needs: its depth plus its tokens.
 *
 * @param test The test.
 * @returns `nDepth + nPrompt + nGen`.
 */
export function testContext(test: BenchTest): number {
  return test.nDepth + test.nPrompt + test.nGen;
}

/**
 * The tokens that fill the cache before a test at depth D: seeded by (seed, D) only, so every repetition and both
 * engines see the same prefix (and a subject that can rewind keeps it between repetitions).
 *
 * @param depth D.
 * @param opts Seed, vocabulary size, BOS id (first token when not null).
 * @returns D ids.
 */
export function depthTokens(
  depth: number,
  opts: { readonly seed: number; readonly nVocab: number; readonly bos: number | null },
): Int32Array {
  return repetitionTokens({ name: `depth${depth}`, nPrompt: depth, nGen: 0, nDepth: 0 }, 0, opts);
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

/** What each subject's cache holds after a depth fill: the depth and its tokens (to rewind instead of refilling). */
const filled = new WeakMap<BenchSubject, Int32Array>();

/** Clear the cache, then (untimed) put the depth tokens in it: by rewinding to them when they are there already. */
async function prepare(subject: BenchSubject, depthIds: Int32Array | undefined): Promise<void> {
  const have = filled.get(subject);
  if (depthIds && depthIds.length > 0 && subject.rewind && have && sameIds(have, depthIds)) {
    const r = subject.rewind(depthIds.length);
    if (r) await r;
    return;
  }
  filled.delete(subject);
  const r = subject.reset();
  if (r) await r;
  if (depthIds && depthIds.length > 0) {
    const d = subject.decode(depthIds);
    if (d) await d;
    filled.set(subject, depthIds.slice());
  }
}

function sameIds(a: Int32Array, b: Int32Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Time one repetition: clear the cache and fill the test's depth (untimed), then run the test's decodes.
 *
 * @param subject The engine.
 * @param test The test.
 * @param ids Its token ids (from {@link repetitionTokens}).
 * @param depthIds For a test at depth D: the D tokens in the cache first ({@link depthTokens}).
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
export async function timeRepetition(
  subject: BenchSubject,
  test: BenchTest,
  ids: Int32Array,
  depthIds?: Int32Array,
): Promise<Repetition> {
  const n = testTokenCount(test);
  if (ids.length !== n) throw new RangeError(`Cannot run ${test.name}: got ${ids.length} token ids, expected ${n}`);
  if ((depthIds?.length ?? 0) !== test.nDepth) {
    throw new RangeError(`Cannot run ${test.name}: got ${depthIds?.length ?? 0} depth tokens, expected ${test.nDepth}`);
  }
  if (n + test.nDepth > subject.nCtx) {
    throw new RangeError(
      `Cannot run ${test.name}: ${n + test.nDepth} tokens do not fit the context of ${subject.nCtx}. ` +
        `Load with nCtx >= ${n + test.nDepth}.`,
    );
  }
  await prepare(subject, depthIds);
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
