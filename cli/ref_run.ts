/**
 * `crossval ref-run`: run a C++ reference on its own: greedy continuation of a prompt, its token ids and timings, plus
 * the library and settings in effect. `--reference llama.cpp|ik_llama|PATH` picks it as `parity` does (default by
 * architecture: ik_llama.cpp for `bitnet-b1.58`), guarded and fed the same lossless transcode
 * (parity/reference_plan.ts). `--verbose` streams llama.cpp's own log to stderr (it is
 * otherwise captured and only quoted in errors). `--json` prints one object instead.
 *
 * @module
 */

import { styleText } from "node:util";
import { printJson, snakeKeys } from "./_output.ts";
import { promptFlag } from "./_flags.ts";
import { UsageError } from "./_errors.ts";
import type { RefModel } from "../ffi/mod.ts";

/** Flags of `ref-run` as commander parses them. */
export interface RefRunFlags {
  model: string;
  prompt?: string;
  promptFile?: string;
  n: number;
  threads?: number;
  ctx?: number;
  parity?: boolean;
  verbose?: boolean;
  json?: boolean;
  /** `--reference`: `llama.cpp`, `ik_llama` or a path (default by architecture). */
  reference?: string;
  /** ik_llama.cpp's input: `f32` (default) or `iq2_bn`. */
  ikFormat?: string;
}

function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

/**
 * Run `ref-run`; returns the exit code. llama.cpp runs in its supervised child process: when it aborts or is
 * killed, the command prints the native message and its location and exits 3 (`ReferenceCrashedError`).
 */
export async function refRunCommand(flags: RefRunFlags): Promise<number> {
  const { n, threads, ctx } = flags; // parsed and range-checked (cli/_flags.ts)
  const prompt = await promptFlag(flags);
  (await import("./preflight.ts")).preflightModelFile(flags.model);

  if (flags.reference !== undefined && flags.reference.trim() === "") {
    throw new UsageError(`Invalid --reference "": expected llama.cpp, ik_llama or a path`);
  }
  if (flags.ikFormat !== undefined && flags.ikFormat !== "f32" && flags.ikFormat !== "iq2_bn") {
    throw new UsageError(`Invalid --ik-format "${flags.ikFormat}": expected f32 or iq2_bn`);
  }
  const { prepareReference, selectReference } = await import("../parity/reference_plan.ts");
  const { GgufFile } = await import("../engine/gguf/mod.ts");
  const { sha256File } = await import("../lock/sha256.ts");
  let header;
  try {
    using f = GgufFile.open(flags.model);
    header = {
      arch: f.architecture,
      tensors: f.tensors.map((t) => ({ name: t.name, type: t.type, shape: [...t.shape] })),
    };
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "file not found" : (e as Error).message;
    throw Object.assign(
      new Error(
        `Cannot run the reference on "${flags.model}": ${why}. Check it with: crossval inspect ${flags.model}; ` +
          `provision the CI models with: crossval fetch --tier ci (or generate one: crossval make-model --out <file>)`,
        { cause: e },
      ),
      { exitCode: 2 },
    );
  }
  const selection = selectReference(flags.reference, header.arch);
  const prepared = await prepareReference(
    selection,
    { path: flags.model, sha256: await sha256File(flags.model), ...header },
    {
      process: {
        log: flags.verbose ? "debug" : "warn",
        ...(flags.verbose ? { onStderr: (l: string) => console.error(styleText("gray", l)) } : {}),
      },
      ...(flags.ikFormat ? { ikFormat: flags.ikFormat as "f32" | "iq2_bn" } : {}),
      ...(flags.json ? {} : { onBuildEvent: (await import("./parity.ts")).buildProgress(false) }),
    },
  ).catch((e) => {
    // A reference that cannot compute the model, or cannot be built or found: an environment problem (exit 2).
    if (e instanceof Error && e.name !== "ReferenceCrashedError" && !("exitCode" in e)) {
      Object.assign(e, { exitCode: 2 });
    }
    throw e;
  });
  await using ref = prepared.process;
  let model: RefModel;
  try {
    model = await ref.load(prepared.modelPath, {
      ...(threads !== undefined ? { threads } : {}),
      ...(ctx !== undefined ? { ctx } : {}),
      parity: flags.parity ?? false,
    });
  } catch (e) {
    // A model llama.cpp cannot load is an environment problem for this command (exit 2), not a failed check.
    if (e instanceof Error && e.name !== "ReferenceCrashedError" && !("exitCode" in e)) {
      Object.assign(e, { exitCode: 2 });
    }
    throw e;
  }
  {
    await using m = model;
    const info = m.info();
    // Warm up as llama.cpp's own tools do (common_init_from_params: one decode, then clear the memory), so the
    // first-call costs (buffer allocation, weight repacking) do not land in the prompt timing.
    const promptIds = await m.tokenize(prompt);
    if (promptIds.length > 0) {
      await m.decodeTimed(promptIds.subarray(0, 1), { append: false });
      await m.reset();
    }
    // Timed inside the child: the pipe is not part of the numbers.
    const r = await m.generateGreedy(promptIds, n);
    const t = r.timings;
    if (flags.json) {
      printJson({
        model: flags.model,
        prompt,
        prompt_ids: [...r.promptIds],
        ids: [...r.ids],
        text: r.text,
        stopped_at_eog: r.stoppedAtEog,
        timings: {
          load_ms: info.loadMs,
          prompt_tokens: t.promptTokens,
          prompt_ms: t.promptMs,
          prompt_tok_per_s: t.promptTokPerS,
          gen_decodes: t.genDecodes,
          gen_ms: t.genMs,
          gen_tok_per_s: Number.isFinite(t.genTokPerS) ? t.genTokPerS : null,
        },
        reference: {
          library: prepared.library,
          selection: prepared.selection.json,
          input: prepared.input,
          build_flags: prepared.buildFlags,
          backend: info.backend,
          source: info.library.source,
          release: info.library.release,
          version: info.library.version,
          ggml_version: info.library.ggmlVersion,
          ggml_commit: info.library.ggmlCommit,
          binding_commit: info.library.commit,
          abi_check: info.library.abiCheck,
          dir: info.library.dir,
          driver: info.library.driver,
          pid: info.library.pid,
        },
        settings: snakeKeys(info.settings),
        model_info: {
          arch: info.arch,
          name: info.name ?? null,
          description: info.description,
          n_vocab: info.nVocab,
          n_ctx_train: info.nCtxTrain,
          n_embd: info.nEmbd,
          n_layer: info.nLayer,
          n_params: info.nParams,
        },
      });
      return 0;
    }
    const s = info.settings;
    console.log(`${prompt}${styleText("bold", r.text)}`);
    console.log();
    console.log(`${styleText("gray", `prompt ids (${r.promptIds.length}):`)} ${[...r.promptIds].join(" ")}`);
    console.log(
      `${
        styleText("gray", `generated ids (${r.ids.length}${r.stoppedAtEog ? ", stopped at end of generation" : ""}):`)
      } ` +
        [...r.ids].join(" "),
    );
    console.log(
      `load ${fmt(info.loadMs, 0)} ms | prompt ${t.promptTokens} tok in ${fmt(t.promptMs)} ms = ` +
        `${fmt(t.promptTokPerS, 0)} tok/s | generation ${t.genDecodes} decodes in ${fmt(t.genMs)} ms = ` +
        `${fmt(t.genTokPerS, 0)} tok/s`,
    );
    console.log(
      styleText(
        "gray",
        `${prepared.library} ${info.library.version} (${info.library.release}, ggml ${info.library.ggmlVersion} ` +
          `${info.library.ggmlCommit}, ${info.library.source}) on ${info.backend}, ${s.threads} threads, ` +
          `ctx ${s.nCtx}, batch ${s.nBatch}, KV ${s.typeK}/${s.typeV}, flash attention ${s.flashAttn}` +
          `${s.flashAttnResolved ? ` -> ${s.flashAttnResolved}` : ""}${s.parity ? " (parity mode)" : ""}` +
          (prepared.selection.json.by === "architecture" ? `; the default for ${header.arch}` : "") +
          (prepared.input?.transcode
            ? `; ran its lossless ${prepared.input.weight_types.join("+")} transcode ${prepared.input.path}`
            : ""),
      ),
    );
    return 0;
  }
}
