/**
 * {@link runParityOnModel}: the whole parity run for one model file, as `crossval parity` and `crossval validate`
 * need it: read the file's facts, load our engine and llama.cpp (parity mode, same threads), run the harness, and
 * always return a receipt, also when a side cannot be loaded: a reference that cannot load makes the receipt
 * `not_run` (never a pass), an engine that cannot load makes it `fail`.
 *
 * @module
 */

import type { Faults } from "./faults.ts";
import type { BackendKind } from "../engine/backends/backend.ts";
import { machineInfo, toolInfo } from "../receipts/provenance.ts";
import type { EngineInfoJson, ParityReceipt, ParityThresholds, ReferenceInfo } from "../receipts/parity_receipt.ts";
import { ENGINE_NOT_LOADED, REFERENCE_NOT_LOADED, unrunReceipt } from "./assemble.ts";
import { CppSubject, parityReferenceOptions } from "./cpp_subject.ts";
import type { ReferenceProcess, ReferenceProcessOptions } from "../ffi/ref_process.ts";
import { ReferenceCrashedError } from "../ffi/ref_crash.ts";
import { crashedReference, referenceCrashError } from "./reference_crash.ts";
import { EngineSubject } from "./engine_subject.ts";
import { gatesFor } from "../receipts/parity_gates.ts";
import type { NumericsProfile } from "../engine/backends/type_kernels.ts";
import { GgufFile, InvalidModelError, preflightGguf } from "../engine/gguf/mod.ts";
import type { ReferenceBuildEvent, TensorDesc } from "../ffi/references/mod.ts";
import {
  type IkInputFormat,
  type PreparedReference,
  prepareReference,
  type ReferenceSelection,
  ReferenceUnsupportedError,
  selectReference,
} from "./reference_plan.ts";
import { type ParityEvent, runParity } from "./harness.ts";
import { describeModelFile } from "./model_facts.ts";
import { DEFAULT_PROMPTS, type ParityPrompt } from "./prompts.ts";

/** Options of {@link runParityOnModel}. */
export interface ParityRunOptions {
  /** Prompts (default {@link DEFAULT_PROMPTS}). */
  readonly prompts?: readonly ParityPrompt[];
  /** Greedy steps per prompt (default 32). */
  readonly steps?: number;
  /** Our engine's kernel backend (default `wasm`). */
  readonly backend?: BackendKind;
  /**
   * Our engine's kernel set (default `exact`, bit-identical to the pinned llama.cpp on x86); `fast` is checked
   * with its own gates (`gatesFor` in receipts/parity_gates.ts).
   */
  readonly numerics?: NumericsProfile;
  /**
   * Threads for both sides (default 1). Parity checks correctness, not speed; on a shared 2-core CI machine,
   * llama.cpp's spinning thread pool with 2 threads was measured 10-500× slower than with 1 (docs/parity.md).
   */
  readonly threads?: number;
  /** Context length for both sides (default 512; prompt + steps must fit). */
  readonly nCtx?: number;
  /** Budget for all reference calls, ms (default 300000). */
  readonly referenceTimeoutMs?: number;
  /** Gates (default: those calibrated for the reference, its input, our activations and kernel set, `gatesFor`). */
  readonly thresholds?: ParityThresholds;
  /** llama.cpp build directory (overrides `BITNET_CPP_DIR`). */
  readonly cppDir?: string;
  /**
   * The reference (`--reference`): `llama.cpp` (the pinned release), `ik_llama` (built from its pinned archive),
   * or a path (a llama.cpp build directory, a source checkout or archive to build). Default by architecture:
   * `bitnet-b1.58` -> `ik_llama`, else `llama.cpp` (parity/reference_plan.ts).
   */
  readonly reference?: string;
  /** ik_llama.cpp's input: the lossless F32 transcode (default) or its own IQ2_BN (rows of at least 512). */
  readonly ikFormat?: IkInputFormat;
  /** Progress of a reference build (the first ik_llama.cpp build takes minutes). */
  readonly onBuildEvent?: (e: ReferenceBuildEvent) => void;
  /**
   * A reference process started early with `CppSubject.spawn(parityReferenceOptions(opts))`, so its start-up
   * overlapped the caller's own (the CLI starts it before loading the rest); the run takes it over and closes it.
   */
  readonly spawnedReference?: Promise<ReferenceProcess>;
  /** Options of the reference process (driver program, memory limit, stderr listener). */
  readonly referenceProcess?: Omit<ReferenceProcessOptions, "cppDir">;
  /** Lockfile name of the model, for the receipt. */
  readonly lockName?: string | null;
  /** SHA-256 already verified by the fetcher (skips hashing). */
  readonly sha256?: string | null;
  /** TEST-ONLY fault injection into our engine; the receipt records it and never verifies. */
  readonly faults?: Faults;
  /** Progress. */
  readonly onEvent?: (e: ParityEvent) => void;
  /**
   * TEST-ONLY: hand the file to both sides without the pre-flight metadata check, to prove that the reference
   * process survives what pre-flight refuses. Our engine runs in this process, so it still refuses a file whose
   * counts or sizes are unusable (a block count of Infinity or 2^31: `PreflightProblem.unusableSize`); the receipt
   * records that as its load error.
   */
  readonly skipPreflight?: boolean;
}

/** The pre-flight error for a file, or null when it passes; a file that cannot be opened is left to the loaders. */
function preflight(path: string): InvalidModelError | null {
  let file: GgufFile;
  try {
    file = GgufFile.open(path);
  } catch {
    return null;
  }
  using f = file;
  const problems = preflightGguf(f.header);
  return problems.length ? new InvalidModelError(path, problems) : null;
}

/**
 * Run parity on one model file.
 *
 * @param path GGUF path.
 * @param opts Prompts, steps, backend, threads, context, budget, gates, provenance hints.
 * @returns The receipt (`pass`, `fail`, `not_run` or `reference_crashed`), never thrown away because a side failed
 *   to load or the reference process died.
 * @throws {Deno.errors.NotFound} When the model file does not exist (fix: `crossval fetch --tier ci`).
 * @throws {SyntaxError} When the file is not GGUF.
 * @throws {RangeError} When a prompt plus the steps does not fit the context.
 * @throws {InvalidModelError} When the file's metadata fails pre-flight (engine/gguf/preflight.ts); nothing ran.
 * @example
 * ```ts
 * import { runParityOnModel } from "./run_model.ts";
 * import { DEFAULT_PROMPTS } from "./prompts.ts";
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * const receipt = await runParityOnModel(path, { prompts: DEFAULT_PROMPTS.slice(0, 2), steps: 8 });
 * console.log(receipt.status, receipt.reasons);
 * ```
 */
export async function runParityOnModel(path: string, opts: ParityRunOptions = {}): Promise<ParityReceipt> {
  const early = opts.spawnedReference;
  early?.catch(() => {}); // reported where it is awaited, or closed unused below
  const closeEarly = () => early?.then((p) => p.close(), () => {});
  // Pre-flight before anything native: metadata that would abort a reference is refused with the key and its value.
  const refused = preflight(path);
  if (refused && !opts.skipPreflight) {
    await closeEarly();
    throw refused;
  }
  const processOptions = parityReferenceOptions(opts);
  const referenceTimeoutMs = processOptions.requestTimeoutMs!;
  let facts, header;
  try {
    header = readHeader(path);
    facts = await describeModelFile(path, { lockName: opts.lockName ?? null, sha256: opts.sha256 ?? null });
  } catch (e) {
    await closeEarly();
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot run parity on "${path}": file not found. Provision the CI model with: crossval fetch --tier ci ` +
          `(or generate one: crossval make-model --out <file>)`,
        { cause: e },
      );
    }
    throw e;
  }
  const selection = selectReference(opts.reference, header.arch);
  // The early process is the pinned llama.cpp (the CLI starts it before it knows the model): used only for that.
  const useEarly = selection.kind === "llama.cpp";
  if (!useEarly) await closeEarly();
  const threads = opts.threads ?? 1;
  const nCtx = opts.nCtx ?? 512;
  const numerics = opts.numerics ?? "exact";
  const prompts = opts.prompts ?? DEFAULT_PROMPTS;
  const [tool, machine] = [await toolInfo(), machineInfo()];

  let engine: EngineSubject | undefined, reference: CppSubject | undefined;
  let engineError: EngineInfoJson["error"] = null, referenceError: ReferenceInfo["error"] = null;
  let referenceBlock: Omit<ReferenceInfo, "ran" | "error" | "timeout_ms"> = {
    ...REFERENCE_NOT_LOADED,
    library: selection.kind === "ik_llama" ? "ik_llama.cpp" : selection.kind === "path" ? "custom" : "llama.cpp",
    selection: selection.json,
  };
  let prepared: PreparedReference | undefined;
  let thresholds = opts.thresholds ??
    gatesFor({ library: "llama.cpp", input: null, activations: "int8", numerics })!;
  try {
    try {
      prepared = await prepareReference(
        selection,
        { path, sha256: facts.model.sha256, arch: header.arch, tensors: header.tensors },
        {
          process: CppSubject.processOptions(processOptions),
          ...(opts.ikFormat ? { ikFormat: opts.ikFormat } : {}),
          numerics,
          ...(opts.onBuildEvent ? { onBuildEvent: opts.onBuildEvent } : {}),
          ...(useEarly && early ? { spawned: early } : {}),
        },
      );
      thresholds = opts.thresholds ?? prepared.thresholds;
    } catch (e) {
      const err = e as Error, name = libraryName(selection);
      if (e instanceof ReferenceCrashedError) {
        referenceError = referenceCrashError(e, `${name} crashed while preparing "${path}": ${err.message}`);
        referenceBlock = crashedReference(e, referenceBlock);
      } else if (e instanceof ReferenceUnsupportedError) {
        referenceError = { kind: "unsupported", message: err.message };
      } else if (
        err.name === "LibraryLoadError" || err.name === "ReferenceBuildError" || err.name === "ReferenceSourceError"
      ) {
        referenceError = { kind: "library_missing", message: err.message };
      } else throw e;
    }
    // Both sides load at once.
    const referenceOpening = prepared
      ? CppSubject.open(prepared.modelPath, {
        threads,
        nCtx,
        greedySteps: opts.steps ?? 32,
        ...processOptions,
        spawned: Promise.resolve(prepared.process),
        dialect: prepared.dialect,
        record: {
          library: prepared.library,
          selection: selection.json,
          build_flags: prepared.buildFlags,
          input: prepared.input,
        },
      }).then((r) => ({ ok: r }), (e: unknown) => ({ error: e }))
      : Promise.resolve({ error: null });
    try {
      if (refused?.problems.some((p) => p.unusableSize)) throw refused;
      engine = await EngineSubject.open(path, {
        backend: opts.backend ?? "wasm",
        threads,
        nCtx,
        numerics,
        activations: prepared?.activations ?? "int8",
        ...(opts.faults ? { faults: opts.faults } : {}),
      });
    } catch (e) {
      engineError = { message: `our engine could not load "${path}": ${(e as Error).message}` };
    }
    const opened = await referenceOpening;
    if ("ok" in opened) reference = opened.ok;
    else if (opened.error !== null) {
      const e = opened.error, err = e as Error, name = libraryName(selection);
      const what = prepared?.input ? ` (its ${prepared.input.weight_types.join("+")} transcode of "${path}")` : "";
      if (e instanceof ReferenceCrashedError && e.report.kind === "timeout") {
        // The supervisor's deadline is the parity time budget: running out of it is a budget outcome (not_run,
        // reference_timeout), as in the harness, not a crash of the library.
        referenceError = {
          kind: "timeout",
          message:
            `${name} did not finish loading "${prepared!.modelPath}"${what} within the ${referenceTimeoutMs} ms ` +
            `budget: ${err.message}`,
        };
      } else if (e instanceof ReferenceCrashedError) {
        referenceError = referenceCrashError(
          e,
          `${name} crashed loading "${prepared!.modelPath}"${what}: ${err.message}`,
        );
        referenceBlock = crashedReference(e, referenceBlock);
      } else {
        referenceError = err.name === "LibraryLoadError"
          ? { kind: "library_missing", message: err.message }
          : { kind: "load_failed", message: `${name} could not load "${prepared!.modelPath}"${what}: ${err.message}` };
      }
    }
    if (!engine || !reference) {
      return unrunReceipt({
        prompts,
        steps: opts.steps ?? 32,
        thresholds,
        engine: engine ? engine.describe() : { ...ENGINE_NOT_LOADED, faults: { ...(opts.faults ?? {}) } },
        engineError,
        reference: reference ? reference.describe() : referenceBlock,
        referenceError,
        timeoutMs: referenceTimeoutMs,
        model: facts.model,
        tokenizer: facts.tokenizer,
        tool,
        machine,
        timestamp: new Date().toISOString(),
      });
    }
    return await runParity(engine, reference, prompts, {
      model: facts.model,
      tokenizer: facts.tokenizer,
      ...(opts.steps !== undefined ? { steps: opts.steps } : {}),
      thresholds,
      referenceTimeoutMs,
      tool,
      machine,
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    });
  } finally {
    engine?.close();
    if (reference) await reference.close();
    else await prepared?.process.close();
  }
}

/** The library's name in messages. */
function libraryName(sel: ReferenceSelection): string {
  return sel.kind === "ik_llama" ? "ik_llama.cpp" : sel.kind === "path" ? `the reference at ${sel.path}` : "llama.cpp";
}

/** Architecture and tensors from the header (no weights read). */
function readHeader(path: string): { arch: string; tensors: TensorDesc[] } {
  using f = GgufFile.open(path);
  return { arch: f.architecture, tensors: f.tensors.map((t) => ({ name: t.name, type: t.type, shape: [...t.shape] })) };
}
