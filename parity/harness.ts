/**
 * {@link runParity}: compare our engine with the reference on a set of prompts and produce a parity receipt.
 * The two sides are passed in (see subject.ts); the harness never constructs them.
 *
 * Order: tokenization (every prompt × 4 variants), logits (every position of every prompt, fed the reference's
 * tokens), greedy decode (N steps per prompt), then localization: every prompt (and each failing greedy sequence)
 * replayed with intermediates captured and compared op by op (localize.ts).
 *
 * No vacuous pass: every reference call runs under a time budget; when the reference throws, or the budget is
 * spent, the run stops and the receipt is `not_run` with the reason. An exception from our engine stops the run
 * and makes it `fail`. Zero compared positions is `not_run`.
 *
 * @module
 */

import { type MachineInfo, machineInfo, type ToolInfo, toolInfo } from "../receipts/provenance.ts";
import type {
  EngineInfoJson,
  GreedyPrompt,
  LocalizationCheck,
  LogitsRow,
  ModelInfoJson,
  ParityReceipt,
  ParityStatus,
  ParityThresholds,
  ReferenceInfo,
  TokenizationCase,
  TokenizerIdentity,
} from "../receipts/parity_receipt.ts";
import { assembleReceipt } from "./assemble.ts";
import { ReferenceCrashedError } from "../ffi/ref_crash.ts";
import { referenceCrashError } from "./reference_crash.ts";
import {
  DEFAULT_THRESHOLDS,
  isDecisiveFlip,
  judgeGreedy,
  judgeLogits,
  judgeTokenization,
  summarizeLogitsRows,
} from "../receipts/parity_gates.ts";
import { compareGreedy } from "./greedy.ts";
import { compareLogitRows } from "./logits.ts";
import { LocalizationAccumulator, localizationNotRun } from "./localize.ts";
import type { ParityPrompt } from "./prompts.ts";
import type { EngineParitySubject, ParitySubject, ReferenceParitySubject } from "./subject.ts";
import { tokenizationCase, TOKENIZE_VARIANTS } from "./tokenization.ts";

/** Progress of a run, for the CLI to render. */
export type ParityEvent =
  | {
    readonly type: "phase";
    readonly phase: "tokenization" | "logits" | "greedy" | "localization";
    readonly state: "start" | ParityStatus;
  }
  | { readonly type: "prompt"; readonly phase: "logits" | "greedy"; readonly index: number; readonly of: number };

/** Options of {@link runParity}. */
export interface RunParityOptions {
  /** The model file's facts (parity/model_facts.ts). */
  readonly model: ModelInfoJson;
  /** Tokenizer identity from the file, or null. */
  readonly tokenizer?: TokenizerIdentity | null;
  /** Greedy steps per prompt (default 32). */
  readonly steps?: number;
  /** Gates (default {@link DEFAULT_THRESHOLDS}). */
  readonly thresholds?: ParityThresholds;
  /** Budget for all reference calls together, ms (default 300000). */
  readonly referenceTimeoutMs?: number;
  /** Tool provenance (default `toolInfo()`). */
  readonly tool?: ToolInfo;
  /** Machine (default `machineInfo()`). */
  readonly machine?: MachineInfo;
  /** Timestamp (default now). */
  readonly timestamp?: string;
  /** Progress. */
  readonly onEvent?: (e: ParityEvent) => void;
}

/** The reference failed to run a call (or ran out of time): the run is `not_run`; its process died: `reference_crashed`. */
class ReferenceFailure extends Error {
  constructor(readonly kind: "timeout" | "error" | "crashed", message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ReferenceFailure";
  }
}

/** Our engine threw: the run is `fail`. */
class EngineFailure extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EngineFailure";
  }
}

const errMsg = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Wrap a side so that its failures are classified and the reference's calls are timed against the budget. */
function guarded(
  side: ParitySubject,
  role: "engine" | "reference",
  budget: { spentMs: number; readonly limitMs: number },
): ParitySubject {
  const call = async <T>(op: string, fn: () => T | Promise<T>): Promise<T> => {
    if (role === "reference" && budget.spentMs >= budget.limitMs) {
      throw new ReferenceFailure("timeout", `the reference used its whole ${budget.limitMs} ms budget before ${op}`);
    }
    const t0 = performance.now();
    let out: T;
    try {
      out = await fn();
    } catch (e) {
      if (role === "reference") {
        // A deadline kill is the time budget running out (not_run, reference_timeout); any other ending is a crash.
        const kind = e instanceof ReferenceCrashedError ? e.report.kind === "timeout" ? "timeout" : "crashed" : "error";
        throw new ReferenceFailure(kind, `the reference failed in ${op}: ${errMsg(e)}`, { cause: e });
      }
      throw new EngineFailure(`our engine failed in ${op}: ${errMsg(e)}`, { cause: e });
    }
    if (role === "reference") {
      budget.spentMs += performance.now() - t0;
      if (budget.spentMs > budget.limitMs) {
        throw new ReferenceFailure(
          "timeout",
          `the reference exceeded its ${budget.limitMs} ms budget during ${op} (${
            Math.round(budget.spentMs)
          } ms spent)`,
        );
      }
    }
    return out;
  };
  return {
    get nVocab() {
      return side.nVocab;
    },
    get nCtx() {
      return side.nCtx;
    },
    tokenize: (text, v) => call("tokenize", () => side.tokenize(text, v)),
    piece: (id) => {
      try {
        return side.piece(id);
      } catch (e) {
        return `<invalid token ${id}: ${errMsg(e)}>`;
      }
    },
    evalAll: (ids) => call(`eval of ${ids.length} tokens`, () => side.evalAll(ids)),
    begin: (ids) => call(`eval of ${ids.length} prompt tokens`, () => side.begin(ids)),
    step: (id) => call("a decode step", () => side.step(id)),
    capture: (ids) => call(`a capture of ${ids.length} tokens`, () => side.capture(ids)),
  };
}

/**
 * Run the parity suite.
 *
 * @param engine Our engine's side (already loaded).
 * @param reference The reference's side (already loaded; parity settings are its constructor's business).
 * @param prompts At least one prompt.
 * @param opts Model facts (required), steps, thresholds, reference budget, localization, provenance, events.
 * @returns The receipt. `status` is `pass` only if every check passed with the reference having run.
 * @throws {RangeError} When `prompts` is empty, `steps` is not a non-negative integer, or a prompt plus the steps
 *   does not fit in a side's context (shorten the prompt or lower the steps).
 * @example
 * ```ts
 * import { runParity } from "./harness.ts";
 * import { CppSubject } from "./cpp_subject.ts";
 * import { EngineSubject } from "./engine_subject.ts";
 * import { describeModelFile } from "./model_facts.ts";
 * import { DEFAULT_PROMPTS } from "./prompts.ts";
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * const { model, tokenizer } = await describeModelFile(path);
 * using engine = await EngineSubject.open(path, { threads: 1, nCtx: 128 });
 * await using cpp = await CppSubject.open(path, { threads: 1, nCtx: 128 });
 * const receipt = await runParity(engine, cpp, DEFAULT_PROMPTS.slice(0, 2), { model, tokenizer, steps: 4 });
 * console.log(receipt.status, receipt.metrics.kld_mean); // pass 0
 * ```
 */
export async function runParity(
  engine: EngineParitySubject,
  reference: ReferenceParitySubject,
  prompts: readonly ParityPrompt[],
  opts: RunParityOptions,
): Promise<ParityReceipt> {
  if (prompts.length === 0) throw new RangeError("Cannot run parity without prompts: pass at least one prompt");
  const steps = opts.steps ?? 32;
  if (!Number.isInteger(steps) || steps < 0) {
    throw new RangeError(`Cannot run ${steps} greedy steps: expected an integer >= 0`);
  }
  const t = opts.thresholds ?? DEFAULT_THRESHOLDS;
  const limitMs = opts.referenceTimeoutMs ?? 300_000;
  const emit = (e: ParityEvent) => opts.onEvent?.(e);
  const budget = { spentMs: 0, limitMs };
  const eng = guarded(engine, "engine", budget);
  const ref = guarded(reference, "reference", budget);
  const [tool, machine] = [opts.tool ?? await toolInfo(), opts.machine ?? machineInfo()];
  const timestamp = opts.timestamp ?? new Date().toISOString();

  const cases: TokenizationCase[] = [];
  const rows: LogitsRow[] = [];
  const greedy: GreedyPrompt[] = [];
  const promptIds: Int32Array[] = [];
  let localization: LocalizationCheck = localizationNotRun("the run stopped before localization");
  let engineMs = 0, cppMs = 0;
  let refError: ReferenceInfo["error"] = null;
  let engError: EngineInfoJson["error"] = null;
  const ran = { tokenization: false, logits: false, greedy: false };

  try {
    // 1. Tokenization: every prompt × variant.
    emit({ type: "phase", phase: "tokenization", state: "start" });
    for (const [i, p] of prompts.entries()) {
      for (const variant of TOKENIZE_VARIANTS) {
        const r = await ref.tokenize(p.text, variant);
        const e = await eng.tokenize(p.text, variant);
        cases.push(tokenizationCase({ engine: e, reference: r }, {
          prompt: i,
          variant,
          pieces: { engine: (id) => eng.piece(id), reference: (id) => ref.piece(id) },
        }));
      }
      // The logits and greedy checks feed both sides the reference's tokens (add_special on).
      promptIds.push(await ref.tokenize(p.text, { addSpecial: true, parseSpecial: p.parseSpecial }));
    }
    ran.tokenization = true;
    emit({ type: "phase", phase: "tokenization", state: judgeTokenization(cases).status });

    const nCtx = Math.min(engine.nCtx, reference.nCtx);
    for (const [i, ids] of promptIds.entries()) {
      if (ids.length === 0 || ids.length + steps > nCtx) {
        throw new RangeError(
          `Cannot run parity on prompt ${i}: it has ${ids.length} tokens and ${steps} greedy steps need ` +
            `${ids.length + steps} positions, but the context holds ${nCtx}. Shorten the prompt or lower --steps.`,
        );
      }
    }
    if (engine.nVocab !== reference.nVocab) {
      throw new EngineFailure(`our engine has ${engine.nVocab} logits per position, the reference ${reference.nVocab}`);
    }

    // 2. Logits at every position.
    emit({ type: "phase", phase: "logits", state: "start" });
    for (const [i, ids] of promptIds.entries()) {
      emit({ type: "prompt", phase: "logits", index: i, of: promptIds.length });
      let t0 = performance.now();
      const r = await ref.evalAll(ids);
      cppMs += performance.now() - t0;
      t0 = performance.now();
      const e = await eng.evalAll(ids);
      engineMs += performance.now() - t0;
      const want = ids.length * reference.nVocab;
      if (r.length !== want) {
        throw new ReferenceFailure("error", `the reference returned ${r.length} logits, expected ${want}`);
      }
      if (e.length !== want) {
        throw new EngineFailure(`our engine returned ${e.length} logits for prompt ${i}, expected ${want}`);
      }
      rows.push(...compareLogitRows({ reference: r, engine: e }, { prompt: i, ids, nVocab: reference.nVocab }));
    }
    ran.logits = true;
    emit({ type: "phase", phase: "logits", state: judgeLogits(rows, summarizeLogitsRows(rows, t), t).status });

    // 3. Greedy decode.
    emit({ type: "phase", phase: "greedy", state: "start" });
    for (const [i, ids] of promptIds.entries()) {
      emit({ type: "prompt", phase: "greedy", index: i, of: promptIds.length });
      greedy.push(await compareGreedy({ engine: eng, reference: ref }, { prompt: i, ids, steps, thresholds: t }));
    }
    ran.greedy = true;
    emit({ type: "phase", phase: "greedy", state: judgeGreedy(greedy, steps, t).status });

    // 4. Localization.
    localization = await runLocalization({ eng, ref, rows, greedy, promptIds, t, nLayer: opts.model.n_layer, emit });
  } catch (e) {
    if (e instanceof ReferenceFailure) {
      refError = e.kind === "crashed" && e.cause instanceof ReferenceCrashedError
        ? referenceCrashError(e.cause, e.message)
        : { kind: e.kind === "timeout" ? "timeout" : "error", message: e.message };
    } else if (e instanceof EngineFailure) engError = { message: e.message };
    else throw e;
  }

  return assembleReceipt({
    prompts,
    promptIds,
    steps,
    thresholds: t,
    cases,
    rows,
    greedy,
    localization,
    ran,
    times: { engineMs, cppMs },
    engine: engine.describe(),
    engineError: engError,
    reference: reference.describe(),
    referenceError: refError,
    timeoutMs: limitMs,
    model: opts.model,
    tokenizer: opts.tokenizer ?? null,
    tool,
    machine,
    timestamp,
  });
}

/** Replay every prompt (plus each failing greedy sequence) with intermediates captured and judge op by op. */
async function runLocalization(c: {
  eng: ParitySubject;
  ref: ParitySubject;
  rows: readonly LogitsRow[];
  greedy: readonly GreedyPrompt[];
  promptIds: readonly Int32Array[];
  t: ParityThresholds;
  nLayer: number | null;
  emit: (e: ParityEvent) => void;
}): Promise<LocalizationCheck> {
  const { rows, greedy, promptIds, t } = c;
  if (c.nLayer === null) {
    return localizationNotRun("the model file does not state its layer count (<arch>.block_count)");
  }
  const sequences = [...promptIds];
  let prompt: number | null = null;
  const why: string[] = [];
  const bad = rows.find((r) =>
    r.cosine === null || r.cosine < t.cosine_min || r.kld === null || r.kld > t.kld_max_max ||
    isDecisiveFlip(r, t)
  );
  if (bad) {
    prompt = bad.prompt;
    why.push(`logits failed first at prompt ${bad.prompt} position ${bad.pos}`);
  }
  for (const g of greedy) {
    if (g.status !== "fail" || g.divergences.length === 0) continue;
    const d = g.divergences[g.divergences.length - 1];
    prompt ??= g.prompt;
    // Prompt + the tokens both sides were fed before the divergent step: its last position is that step.
    sequences.push(Int32Array.from([...promptIds[g.prompt], ...g.reference_ids.slice(0, d.step)]));
    why.push(`greedy diverged at prompt ${g.prompt} step ${d.step} (replayed up to it)`);
  }
  c.emit({ type: "phase", phase: "localization", state: "start" });
  const acc = new LocalizationAccumulator();
  for (const ids of sequences) acc.add({ reference: await c.ref.capture(ids), engine: await c.eng.capture(ids) });
  const out = acc.result({
    nLayer: c.nLayer,
    thresholds: t,
    prompt,
    reason: `${sequences.length} sequences replayed${why.length ? `; ${why.join("; ")}` : ""}`,
  });
  c.emit({ type: "phase", phase: "localization", state: out.status });
  return out;
}
