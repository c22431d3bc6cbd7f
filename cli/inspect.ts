/**
 * `crossval inspect MODEL`: describe a GGUF file and check it against the BitNet tensor manifest (the spec's
 * `compat-check`) and the pre-flight metadata rules (engine/gguf/preflight.ts). Exit 0 when the file is a valid BitNet
 * model, 1 when it is not (problems listed, each naming the key and its value).
 *
 * @module
 */

import { styleText } from "node:util";
import { GgufFile, preflightGguf } from "../engine/gguf/mod.ts";
import type { ModelConfig } from "../engine/model/config.ts";
import { configFromGguf, llamaCppCompatibility, validateTensors } from "../engine/model/architectures.ts";
import { ggmlTypeName } from "../engine/quant/ggml_type.ts";
import { sha256File } from "../lock/mod.ts";
import { humanBytes, printJson, renderTable, snakeKeys } from "./_output.ts";

/** Flags of `inspect`. */
export interface InspectFlags {
  hash?: boolean;
  json?: boolean;
}

function metaString(f: GgufFile, key: string): string | undefined {
  const v = f.get(key)?.value;
  return typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : undefined;
}

/**
 * Everything `inspect` reports about a file, without printing: the library entry point of the command (the
 * semantic fuzz test drives it directly).
 *
 * @param path GGUF file.
 * @param flags `hash: false` skips the SHA-256.
 * @returns The JSON report, its verdict, and the parts the human rendering needs.
 * @throws {Deno.errors.NotFound} When the file does not exist.
 * @throws {Error} (exit code 1) When the file is not GGUF or its header is corrupt.
 */
export async function inspectModel(path: string, flags: InspectFlags = {}) {
  let file: GgufFile;
  try {
    file = GgufFile.open(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot inspect "${path}": no such file. Provision the CI model with: crossval fetch --tier ci ` +
          `(or generate one: crossval make-model --preset tiny --out model.gguf)`,
      );
    }
    if (e instanceof SyntaxError || e instanceof RangeError) {
      throw Object.assign(
        new Error(`${e.message}. The file is corrupt or not a GGUF model; re-fetch it with: crossval fetch --force`),
        { exitCode: 1 },
      );
    }
    throw e;
  }
  using _ = file;
  const h = file.header;
  const sha256 = flags.hash === false ? undefined : await sha256File(path);

  // Pre-flight first: metadata values that would abort or mislead a loader (NaN, negative, zero, inconsistent with
  // the tensors, misaligned data, duplicate or invalid vocabularies). The same messages refuse the file elsewhere.
  const preflight = preflightGguf(h);
  let config: ModelConfig | undefined;
  let configError: string | undefined;
  try {
    config = configFromGguf(file);
  } catch (e) {
    configError = (e as Error).message;
  }
  // The manifest is built from the hparams: with values pre-flight refused (a block count of Infinity, say) it
  // would not be finite, so it is only checked for files that pass pre-flight.
  const sound = preflight.length === 0 && config !== undefined;
  const problems = sound ? validateTensors(h.tensors, config!) : [];
  const compat = sound ? llamaCppCompatibility(config!, h.tensors) : undefined;
  const tokenizer = {
    model: metaString(file, "tokenizer.ggml.model"),
    pre: metaString(file, "tokenizer.ggml.pre"),
    vocab_size: file.getArray("tokenizer.ggml.tokens")?.items.length,
    bos: file.getNumber("tokenizer.ggml.bos_token_id"),
    eos: file.getNumber("tokenizer.ggml.eos_token_id"),
    add_bos: file.getBool("tokenizer.ggml.add_bos_token"),
  };
  const valid = config !== undefined && problems.length === 0 && preflight.length === 0;
  const report = {
    path,
    size_bytes: h.fileSize,
    sha256,
    gguf: { version: h.version, alignment: h.alignment, data_offset: h.dataOffset, metadata: h.metadata.size },
    architecture: file.architecture || null,
    name: metaString(file, "general.name") ?? null,
    synth_spec: metaString(file, "crossval.synth.spec") ?? null,
    hparams: config ? snakeKeys(config) : null,
    tokenizer,
    tensors: h.tensors.map((t) => ({ name: t.name, shape: t.shape, type: ggmlTypeName(t.type), bytes: t.byteLength })),
    validation: { valid, error: configError ?? null, problems, preflight },
    llama_cpp: compat ?? null,
  };
  return {
    report,
    valid,
    header: h,
    architecture: file.architecture,
    config,
    configError,
    problems,
    preflight,
    compat,
    tokenizer,
  };
}

/** Run `inspect`; returns the exit code. */
export async function inspectCommand(path: string, flags: InspectFlags): Promise<number> {
  const { report, valid, header: h, architecture, config, configError, problems, preflight, compat, tokenizer } =
    await inspectModel(path, flags);
  const sha256 = report.sha256;
  if (flags.json) {
    printJson(report);
    return valid ? 0 : 1;
  }

  const kv = (k: string, v: unknown) => console.log(`${k.padEnd(14)} ${v}`);
  kv("file", `${path} (${humanBytes(h.fileSize)})`);
  if (sha256) kv("sha256", sha256);
  kv("gguf", `v${h.version}, ${h.metadata.size} metadata keys, ${h.tensors.length} tensors, alignment ${h.alignment}`);
  kv("architecture", architecture || "(none)");
  if (report.synth_spec) kv("generated by", `crossval make-model ${report.synth_spec}`);
  if (config) {
    kv(
      "hparams",
      `${config.nLayer} layers, ${config.nEmbd} hidden, ${config.nFf} ffn, ${config.nHead}/${config.nHeadKv} heads ` +
        `(head dim ${config.headDim}), ctx ${config.nCtxTrain}, rope base ${config.ropeFreqBase}, eps ${config.rmsEps}, ` +
        `${config.activation} FFN`,
    );
  }
  kv(
    "tokenizer",
    tokenizer.model
      ? `${tokenizer.model}${tokenizer.pre ? ` (pre ${tokenizer.pre})` : ""}, ${tokenizer.vocab_size} tokens, ` +
        `bos ${tokenizer.bos ?? "-"}, eos ${tokenizer.eos ?? "-"}`
      : "(none)",
  );
  console.log(
    renderTable(
      ["tensor", "shape", "type", "bytes"],
      h.tensors.map((t) => [t.name, `[${t.shape.join(", ")}]`, ggmlTypeName(t.type), humanBytes(t.byteLength)]),
    ),
  );
  if (preflight.length) {
    console.log(
      styleText("red", `invalid: ${preflight.length} metadata problem(s); run, parity and tokenize refuse it:`),
    );
    for (const p of preflight) console.log(`  - ${p.message}`);
  }
  if (configError) console.log(`${styleText("red", "not a BitNet model:")} ${configError}`);
  else if (problems.length) {
    console.log(styleText("red", `${problems.length} problem(s) against the ${config!.arch} tensor manifest:`));
    for (const p of problems) console.log(`  - ${p.message}`);
  } else if (!preflight.length) {
    console.log(
      `${styleText("green", "valid")} ${config!.arch} model: all ${h.tensors.length} tensors match the manifest`,
    );
  }
  if (compat && !preflight.length) {
    const verdict = compat.correct
      ? styleText("green", "runs")
      : compat.loads
      ? styleText("yellow", "loads (wrong math)")
      : styleText("yellow", "rejects it");
    console.log(`llama.cpp      ${verdict}: ${compat.notes.join("; ")}`);
  }
  return valid ? 0 : 1;
}
