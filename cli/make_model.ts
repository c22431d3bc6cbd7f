/**
 * `crossval make-model`: generate a deterministic synthetic ternary GGUF (`bitnet`, `bitnet-b1.58` or `llama`).
 *
 * @module
 */

import { styleText } from "node:util";
import { normalizeSpec, specToQuery, type SynthSpec, writeSyntheticModel } from "../engine/synth/mod.ts";
import { humanBytes, printJson, snakeKeys } from "./_output.ts";
import { UsageError } from "./_errors.ts";
import { intFlag } from "./_flags.ts";

/** Flags of `make-model` as commander parses them. */
export interface MakeModelFlags {
  preset: string;
  arch?: string;
  type: string;
  embedType?: string;
  seed: string;
  vocab?: string;
  layers?: string;
  embd?: string;
  ff?: string;
  heads?: string;
  headsKv?: string;
  ctx?: string;
  scales?: boolean;
  untied?: boolean;
  outputType?: string;
  ropeFreqs?: boolean;
  out: string;
  json?: boolean;
}

const int = (name: string, v: string) => intFlag(name, v, 0);

/** Run `make-model`; returns the exit code. */
export async function makeModelCommand(flags: MakeModelFlags): Promise<number> {
  let spec: SynthSpec;
  try {
    spec = normalizeSpec({
      preset: flags.preset as SynthSpec["preset"],
      ...(flags.arch ? { arch: flags.arch as SynthSpec["arch"] } : {}),
      type: flags.type as SynthSpec["type"],
      embedType: (flags.embedType ?? "f16") as SynthSpec["embedType"],
      seed: int("seed", flags.seed),
      ...(flags.vocab ? { vocab: flags.vocab } : {}),
      ...(flags.layers ? { layers: int("layers", flags.layers) } : {}),
      ...(flags.embd ? { embd: int("embd", flags.embd) } : {}),
      ...(flags.ff ? { ff: int("ff", flags.ff) } : {}),
      ...(flags.heads ? { heads: int("heads", flags.heads) } : {}),
      ...(flags.headsKv ? { headsKv: int("heads-kv", flags.headsKv) } : {}),
      ...(flags.ctx ? { ctx: int("ctx", flags.ctx) } : {}),
      ...(flags.scales ? { scales: true } : {}),
      ...(flags.untied !== undefined ? { untied: flags.untied } : {}),
      ...(flags.outputType ? { outputType: flags.outputType as SynthSpec["embedType"] } : {}),
      ...(flags.ropeFreqs ? { ropeFreqs: true } : {}),
    });
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  const r = await writeSyntheticModel(flags.out, spec);
  if (flags.json) {
    printJson({
      path: r.path,
      sha256: r.sha256,
      size_bytes: r.bytes,
      spec: spec.vocab ? snakeKeys({ ...spec }) : specToQuery(spec),
      config: snakeKeys(r.config),
      ms: Math.round(r.ms),
    });
  } else {
    const c = r.config;
    console.log(`${styleText("green", "wrote")} ${r.path} (${humanBytes(r.bytes)}, ${Math.round(r.ms)} ms)`);
    console.log(`  sha256  ${r.sha256}`);
    console.log(
      `  ${c.arch}: ${c.nLayer} layers, ${c.nEmbd} hidden, ${c.nFf} ffn, ${c.nHead}/${c.nHeadKv} heads, ` +
        `${c.nVocab} vocab, ${spec.type} weights, ${spec.embedType} embedding` +
        (spec.untied ? `, untied ${spec.outputType ?? spec.embedType} output` : ""),
    );
  }
  return 0;
}
