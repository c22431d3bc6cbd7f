/**
 * `crossval run`: generate text with our engine, streaming it as it comes, then report prompt and generation
 * speed. `--json` prints one object instead: ids, text, timings, tokens/s, backend, threads, kernels.
 *
 * @module
 */

import { styleText } from "node:util";
import { printJson, snakeKeys } from "./_output.ts";
import { UsageError } from "./_errors.ts";
import { isBackendKind } from "../engine/backends/backend.ts";
import { promptFlag } from "./_flags.ts";

/** Flags of `run` as commander parses them. */
export interface RunFlags {
  model: string;
  prompt?: string;
  promptFile?: string;
  n: number;
  greedy?: boolean;
  temp?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  threads?: number;
  backend: string;
  numerics?: string;
  ctx?: number;
  json?: boolean;
}

/** Run `run`; returns the exit code. */
export async function runCommand(flags: RunFlags): Promise<number> {
  const prompt = await promptFlag(flags);
  // Numbers arrive parsed and range-checked (cli/_flags.ts).
  const { n: maxTokens, threads, ctx: nCtx, temp: temperature, topK, topP, seed } = flags;
  const sampled = temperature !== undefined || topK !== undefined || topP !== undefined || seed !== undefined;
  if (flags.greedy && sampled) {
    throw new UsageError("--greedy cannot be combined with --temp/--top-k/--top-p/--seed: pick one decoding mode");
  }
  if (!isBackendKind(flags.backend)) {
    throw new UsageError(`Invalid --backend "${flags.backend}": expected wasm, ref or webgpu`);
  }
  // Sampling flags without --temp sample at llama.cpp's default temperature (0.8).
  const greedy = !sampled || temperature === 0;

  (await import("./preflight.ts")).preflightModelFile(flags.model);
  const { Engine } = await import("../engine/engine.ts");
  const numerics = flags.numerics ?? "fast"; // commander checked the choice
  using engine = await Engine.load(flags.model, {
    backend: flags.backend,
    threads,
    nCtx,
    numerics: numerics === "exact" ? "exact" : "fast",
  });
  const info = engine.info();
  const stream = engine.stream(prompt, {
    maxTokens,
    ...(greedy ? { greedy: true } : { greedy: false, temperature: temperature ?? 0.8, topK, topP, seed }),
  });
  const enc = new TextEncoder();
  const tty = !flags.json;
  if (tty) Deno.stdout.writeSync(enc.encode(prompt));
  let r = await stream.next();
  while (!r.done) {
    if (tty && r.value.text) Deno.stdout.writeSync(enc.encode(r.value.text));
    r = await stream.next();
  }
  const res = r.value;
  const t = res.timings;
  if (flags.json) {
    printJson({
      model: flags.model,
      prompt,
      prompt_ids: [...res.promptIds],
      ids: [...res.ids],
      text: res.text,
      stopped_at_eog: res.stoppedAtEog,
      sampling: snakeKeys(res.sampling),
      timings: {
        load_ms: info.loadMs,
        prompt_tokens: t.promptTokens,
        prompt_ms: t.promptMs,
        gen_decodes: t.genDecodes,
        gen_ms: t.genMs,
      },
      tokens_per_second: { prompt: t.promptTokPerS, gen: Number.isNaN(t.genTokPerS) ? null : t.genTokPerS },
      backend: info.backend,
      threads: info.threads,
      numerics: info.numerics,
      weight_type: info.weightType,
      embedding_type: info.embeddingType,
      kernels: engine.kernels(),
    });
  } else {
    const gen = Number.isNaN(t.genTokPerS) ? "n/a" : `${t.genTokPerS.toFixed(1)} tok/s`;
    console.error(
      `\n${styleText("dim", "---")}\nprompt: ${t.promptTokens} tokens, ${t.promptTokPerS.toFixed(1)} tok/s | ` +
        `generation: ${res.ids.length} tokens, ${gen} | ${info.backend} backend, ${info.threads} thread(s), ` +
        `${info.numerics} numerics` +
        (res.sampling.greedy ? ", greedy" : `, temp ${res.sampling.temperature}, seed ${res.sampling.seed}`),
    );
  }
  return 0;
}
