#!/usr/bin/env -S deno run -A
/**
 * `crossval`: the command table. Each command is a thin adapter in `cli/<command>.ts`, imported lazily so
 * `--help` is instant and needs no permissions. Exit codes: 0 ok, 1 the checked thing failed, 2 usage or
 * environment error.
 *
 * @module
 */

import { Command, CommanderError, Option } from "commander";
import { exitCodeOf, formatError, UsageError } from "./_errors.ts";
import { exitOnInterrupt } from "./_interrupt.ts";
import {
  activeUsageLine,
  ikFormatOption,
  installUsageLines,
  intListOption,
  intOption,
  numberOption,
  numericsListOption,
  numericsOption,
  RANGES,
  referenceOption,
} from "./_flags.ts";

let exitCode = 0;
function done(code: number): void {
  exitCode = Math.max(exitCode, code);
}

const program = new Command("crossval")
  .description("Run BitNet b1.58 ternary models with our own engine and prove it against llama.cpp")
  .exitOverride();

// --- commands (one block each, in the order of the README's reference) ---

program.command("make-model")
  .description("Generate a deterministic synthetic ternary GGUF model (same arguments -> same bytes)")
  .addOption(
    new Option("--preset <preset>", "model shape").choices([
      "tiny",
      "2b4t",
      "tiny-llama",
      "falcon3-1b-1.58",
      "llama3-8b-1.58",
    ]).default("tiny"),
  )
  .addOption(
    new Option("--arch <arch>", "architecture (default: the preset's)").choices(["bitnet", "bitnet-b1.58", "llama"]),
  )
  .addOption(new Option("--type <type>", "ternary weight type").choices(["tq2_0", "tq1_0", "i2_s"]).default("tq2_0"))
  .addOption(new Option("--embed-type <type>", "token embedding type").choices(["f16", "q8_0", "q6_k", "bf16"]))
  .option("--seed <n>", "random seed", "1")
  .option("--vocab <gguf>", "reuse the vocabulary of this GGUF (e.g. ggml-vocab-llama-bpe.gguf)")
  .option("--layers <n>", "override the layer count")
  .option("--embd <n>", "override the hidden size (multiple of 256)")
  .option("--ff <n>", "override the FFN size (multiple of 256)")
  .option("--heads <n>", "override the attention head count")
  .option("--heads-kv <n>", "override the KV head count (GQA)")
  .option("--ctx <n>", "override the training context length")
  .option("--scales", "also write per-tensor .scale tensors")
  .option("--untied", "llama: write an untied output.weight (the llama presets' default)")
  .option("--no-untied", "llama: tie the output to the token embedding")
  .addOption(
    new Option("--output-type <type>", "llama: type of an untied output.weight").choices([
      "f16",
      "q8_0",
      "q6_k",
      "bf16",
    ]),
  )
  .option("--rope-freqs", "llama: write Llama 3's rope_freqs.weight (rope scaling factors)")
  .requiredOption("--out <file>", "output path")
  .option("--json", "machine-readable output")
  .action(async (opts) => done(await (await import("./make_model.ts")).makeModelCommand(opts)));

program.command("inspect")
  .description("Describe a GGUF model and validate it against its architecture's tensor manifest")
  .argument("<model>", "GGUF file")
  .option("--no-hash", "skip the SHA-256 of the file")
  .option("--json", "machine-readable output")
  .action(async (model: string, opts) => done(await (await import("./inspect.ts")).inspectCommand(model, opts)));

program.command("convert")
  .description("Rewrite a model's ternary weights as TQ2_0, TQ1_0 or I2_S, losslessly (refuses otherwise, naming why)")
  .argument("<model>", "GGUF file with TQ1_0, TQ2_0 or I2_S weights")
  .addOption(new Option("--to <type>", "target weight type").choices(["tq2_0", "tq1_0", "i2_s"]).makeOptionMandatory())
  .requiredOption("--out <file>", "output path (written atomically)")
  .addOption(
    new Option("--i2s-packing <packing>", "how the input's I2_S tensors are packed (bitnet.cpp build)")
      .choices(["act-parallel", "row-1x4", "neon-64"]).default("act-parallel"),
  )
  .option("--no-verify", "skip the element-for-element comparison of both files afterwards")
  .option("--json", "machine-readable output")
  .action(async (model: string, opts) => done(await (await import("./convert.ts")).convertCommand(model, opts)));

program.command("run")
  .description("Generate text with our engine, streaming it, then print prompt and generation tokens/s")
  .requiredOption("--model <gguf>", "BitNet GGUF model")
  .option("--prompt <text>", "prompt text")
  .option("--prompt-file <file>", "read the prompt from a file")
  .addOption(intOption("-n, --n <tokens>", "tokens to generate", RANGES.tokens, 32))
  .option("--greedy", "always take the most likely token (the default)")
  .addOption(numberOption("--temp <t>", "sample at this temperature (0 = greedy)", { min: 0 }))
  .addOption(
    intOption("--top-k <k>", "sample among the k most likely tokens (0 = all; default 40 when sampling)", RANGES.topK),
  )
  .addOption(
    numberOption(
      "--top-p <p>",
      "sample from the smallest set reaching probability p (default 0.95 when sampling)",
      { min: 0, minExclusive: true, max: 1 },
    ),
  )
  .addOption(intOption("--seed <n>", "sampling seed (default random, printed)", RANGES.seed))
  .addOption(intOption("--threads <n>", "kernel threads (default: core count)", RANGES.threads))
  .addOption(new Option("--backend <backend>", "kernel backend").choices(["wasm", "ref", "webgpu"]).default("wasm"))
  .addOption(numericsOption("fast"))
  .addOption(intOption("--ctx <n>", "context length (default: min(training context, 4096))", RANGES.ctx))
  .option("--json", "machine-readable output")
  .action(async (opts) => done(await (await import("./run.ts")).runCommand(opts)));

program.command("ref-run")
  .description("Run a C++ reference alone (llama.cpp, ik_llama.cpp): greedy continuation, token ids and timings")
  .requiredOption("--model <gguf>", "GGUF model")
  .option("--prompt <text>", "prompt text")
  .option("--prompt-file <file>", "read the prompt from a file")
  .addOption(intOption("-n, --n <tokens>", "tokens to generate", RANGES.tokens, 32))
  .addOption(intOption("--threads <n>", "llama.cpp threads (default: core count)", RANGES.threads))
  .addOption(intOption("--ctx <n>", "context length (default: min(training context, 4096))", RANGES.ctx))
  .option("--parity", "F32 KV cache and no flash attention, as the parity harness runs it")
  .addOption(referenceOption())
  .addOption(ikFormatOption())
  .option("--verbose", "stream the reference's own log to stderr")
  .option("--json", "machine-readable output")
  .action(async (opts) => done(await (await import("./ref_run.ts")).refRunCommand(opts)));

program.command("fetch")
  .description("Fetch the lockfile's models into the cache, verified by SHA-256 (resumable; idempotent)")
  .addOption(new Option("--tier <tier>", "only this tier").choices(["ci", "integration", "bench"]))
  .option("--model <name>", "only this model (a lockfile name)")
  .option(
    "--lockfile <path>",
    "lockfile (default: BITNET_LOCKFILE, else ./crossval-models.lock.json, else the packaged one)",
  )
  .option("--cache-dir <dir>", "cache root (default: BITNET_MODEL_CACHE_DIR or ~/.cache/bitnet/models)")
  .option("--verify-only", "re-hash cached models; report missing, corrupt and extra entries (exit 1 if any)")
  .option("--force", "discard cached copies and partial downloads, fetch again")
  .option("--offline", "make no network requests (also BITNET_OFFLINE=1); generated and file models still work")
  .option("--json", "NDJSON events and a final report on stdout (the default when stdout is not a terminal)")
  .action(async (opts) => done(await (await import("./fetch.ts")).fetchCommand(opts)));

program.command("tokenize")
  .description("Tokenize with our tokenizer (llama.cpp-exact); --inp runs a llama.cpp test-vector .inp file")
  .requiredOption("--model <gguf>", "GGUF model or vocabulary (e.g. ggml-vocab-llama-bpe.gguf)")
  .option("--text <text>", "text to tokenize")
  .option("--file <file>", "tokenize this file's bytes")
  .option("--inp <file>", "llama.cpp .inp vector file: print one line of ids per case, as in its .out file")
  .option("--add-special", "add BOS/EOS as the vocabulary asks (llama.cpp add_special)")
  .option("--parse-special", "recognise control-token texts such as <|eot_id|> (llama.cpp parse_special)")
  .option("--json", "machine-readable output")
  .action(async (opts) => done(await (await import("./tokenize.ts")).tokenizeCommand(opts)));

program.command("parity")
  .description(
    "Compare our engine with a C++ reference (llama.cpp, ik_llama.cpp): tokens, logits at every position, greedy " +
      "decode, op-by-op localization",
  )
  .option("--model <gguf|name>", "a GGUF file or a lockfile model name")
  .addOption(
    new Option("--tier <tier>", "every model of this lockfile tier (provisioned first)").choices([
      "ci",
      "integration",
      "bench",
    ]),
  )
  .option("--prompts <file>", "prompts: JSON array, llama.cpp .inp file, or one per line (default: built-in set)")
  .addOption(intOption("--steps <n>", "greedy steps per prompt", RANGES.tokens, 32))
  .option("--out <file>", "receipt path", "ci/parity.json")
  .addOption(
    new Option("--backend <backend>", "our engine's kernel backend").choices(["wasm", "ref", "webgpu"]).default("wasm"),
  )
  .addOption(numericsOption("exact"))
  .addOption(
    intOption(
      "--threads <n>",
      "threads for both engines (default 1: parity checks correctness, not speed)",
      RANGES.threads,
    ),
  )
  .addOption(intOption("--ctx <n>", "context length for both engines (default 512)", RANGES.parityCtx))
  .addOption(
    intOption("--timeout <s>", "time budget for all reference calls, seconds (default 300)", RANGES.timeoutSeconds),
  )
  .addOption(referenceOption())
  .addOption(ikFormatOption())
  .option(
    "--lockfile <path>",
    "lockfile (default: BITNET_LOCKFILE, else ./crossval-models.lock.json, else the packaged one)",
  )
  .option("--json", "print the receipt as JSON")
  .action(async (opts) => done(await (await import("./parity.ts")).parityCommand(opts)));

program.command("parity-calibrate", { hidden: true })
  .description("Calibration runs behind docs/parity.md (one JSON line per run)")
  .addOption(
    new Option("--backend <backend>", "our engine's kernel backend").choices(["wasm", "ref", "webgpu"]).default("wasm"),
  )
  .addOption(numericsOption("exact"))
  .option("--faults", "run the injected-fault set instead of the model set")
  .option("--out <file>", "also write the JSON lines here")
  .addOption(
    new Option("--ik-format <format>", "calibrate against ik_llama.cpp on this input").choices(["f32", "iq2_bn"]),
  )
  .option("--measure", "with --ik-format: record each op's clean-row NMSE instead of judging it")
  .action(async (opts) => done(await (await import("./parity.ts")).parityCalibrateCommand(opts)));

program.command("reference")
  .description("C++ references built from source (ik_llama.cpp): build one into the cache with its protocol driver")
  .command("build")
  .description("Build ik_llama.cpp (or --source <archive|checkout>) CPU-only into the cache, once per machine")
  .option(
    "--source <path>",
    "source archive or checkout (default: BITNET_CPP_DIR, else the pinned ik_llama.cpp archive)",
  )
  .addOption(intOption("--jobs <n>", "parallel compile jobs (default: core count)", RANGES.jobs))
  .option("--json", "NDJSON events and a final result line (the default when stdout is not a terminal)")
  .action(async (opts) => done(await (await import("./reference.ts")).referenceBuildCommand(opts)));

program.command("validate")
  .description("Provision the CI model, run parity, write receipts, print PASS/FAIL (exit 0 only when all passed)")
  .addOption(
    new Option("--tier <tier>", "lockfile tier to validate").choices(["ci", "integration", "bench"]).default("ci"),
  )
  .option("--out <file>", "parity receipt path", "ci/parity.json")
  .addOption(intOption("--steps <n>", "greedy steps per prompt (default 32)", RANGES.tokens))
  .addOption(
    new Option("--backend <backend>", "our engine's kernel backend").choices(["wasm", "ref", "webgpu"]).default("wasm"),
  )
  .addOption(
    numericsListOption(
      ["exact", "fast"],
      "parity checks each profile (exact: ci/parity.json, others: ci/parity-<profile>.json); the benchmark runs them all",
    ),
  )
  .addOption(intOption("--threads <n>", "threads for both engines (default 1)", RANGES.threads))
  .addOption(
    intOption("--timeout <s>", "time budget for all reference calls, seconds (default 300)", RANGES.timeoutSeconds),
  )
  .addOption(referenceOption())
  .addOption(ikFormatOption())
  .option(
    "--lockfile <path>",
    "lockfile (default: BITNET_LOCKFILE, else ./crossval-models.lock.json, else the packaged one)",
  )
  .option("--json", "print the receipt summaries as JSON")
  .action(async (opts) => done(await (await import("./validate.ts")).validateCommand(opts)));

program.command("receipt")
  .description("Work with receipts")
  .command("verify")
  .description(
    "Check receipts: schema, status recomputed from their own numbers, honest compute (exit 1 on any problem)",
  )
  .argument("<files...>", "receipt JSON files")
  .option("--json", "machine-readable output")
  .action(async (files: string[], opts) =>
    done(await (await import("./receipt.ts")).receiptVerifyCommand(files, opts))
  );

program.command("report")
  .description("Render parity and bench receipts as one self-contained HTML page (charts, token strips, heatmap)")
  .argument("[receipts...]", "receipt JSON files (default: every *.json in ci/)")
  .option("--out <file>", "page path", "ci/report.html")
  .option("--baseline <file>", "baseline to compare bench receipts with (default: docs/baselines/latest-cpu.json)")
  .option("--open", "open the page in the default browser")
  .option("--json", "machine-readable output")
  .action(async (files: string[], opts) => done(await (await import("./report.ts")).reportCommand(files, opts)));

program.command("bench")
  .description("Benchmark our engine and its reference (same model, threads, token ids; interleaved), write receipts")
  .option("--model <gguf|name>", "a GGUF file or a lockfile model name")
  .addOption(
    new Option("--tier <tier>", "every model of this lockfile tier (default ci)").choices([
      "ci",
      "integration",
      "bench",
    ]),
  )
  .addOption(intListOption("--pp <n,...>", "prompt-processing tests: prompt lengths (0: none)", RANGES.tokens, [64]))
  .addOption(intListOption("--tg <n,...>", "generation tests: tokens generated (0: none)", RANGES.tokens, [32]))
  .addOption(intOption("--reps <n>", "measured repetitions per test and engine", RANGES.reps, 5))
  .addOption(intOption("--warmup <n>", "unmeasured repetitions first", RANGES.warmup, 1))
  .addOption(intOption("--threads <n>", "threads for both engines (default: core count)", RANGES.threads))
  .addOption(
    new Option("--backend <backend>", "our engine's kernel backend").choices(["wasm", "ref", "webgpu"]).default("wasm"),
  )
  .addOption(
    numericsListOption(
      ["fast"],
      "our engine's kernel sets, each benchmarked against llama.cpp (receipts bench_<name>.json for fast, bench_<name>-exact.json for exact)",
    ),
  )
  .addOption(
    intListOption(
      "--depth <n,...>",
      "context depths the generation tests start at (llama-bench -d): the cache holds n tokens first, untimed",
      RANGES.tokens,
      [0],
    ),
  )
  .option("--no-roofline", "skip the streaming-read bandwidth probes (the decode roofline)")
  .addOption(intOption("--seed <n>", "seed of the random token ids", RANGES.seed, 1))
  .addOption(referenceOption())
  .addOption(ikFormatOption())
  .option("--out-dir <dir>", "where bench_<name>.json receipts go", "ci")
  .option(
    "--lockfile <path>",
    "lockfile (default: BITNET_LOCKFILE, else ./crossval-models.lock.json, else the packaged one)",
  )
  .option("--json", "print the receipts as JSON")
  .action(async (opts) => done(await (await import("./bench.ts")).benchCommand(opts)));

const baselines = program.command("baselines").description(
  "Performance baselines from bench receipts, and the regression gate",
);
baselines.command("gen")
  .description("Aggregate verified bench receipts into <out>/YYYYMMDD-cpu.json and <out>/latest-cpu.json")
  .option("--receipts <dir>", "directory of bench_*.json receipts", "ci")
  .option("--out <dir>", "baseline directory", "docs/baselines")
  .option("--json", "machine-readable output")
  .action(async (opts) => done(await (await import("./baselines.ts")).baselinesGenCommand(opts)));
baselines.command("verify")
  .description("Compare bench receipts with a baseline: exit 1 on a significant regression > threshold")
  .option("--baseline <file>", "baseline file", "docs/baselines/latest-cpu.json")
  .option("--receipts <dir>", "directory of bench_*.json receipts", "ci")
  .addOption(
    numberOption("--threshold <fraction>", "smallest change that counts", {
      min: 0,
      max: 1,
      minExclusive: true,
      maxExclusive: true,
    }, 0.10),
  )
  .addOption(
    numberOption("--confidence <level>", "confidence of the test and intervals", {
      min: 0,
      max: 1,
      minExclusive: true,
      maxExclusive: true,
    }, 0.95),
  )
  .option("--json", "machine-readable output")
  .action(async (opts) => done(await (await import("./baselines.ts")).baselinesVerifyCommand(opts)));

// --- end of commands ---

installUsageLines(program);
program.hook("preAction", (_root, action) => {
  const names: string[] = [];
  for (let c: Command | null = action; c; c = c.parent) names.unshift(c.name());
  exitOnInterrupt(names.join(" "));
});

// `crossval --version [--json]` (cli/version.ts): our version, Deno/V8/TypeScript, the pinned llama.cpp and the
// kernel build hash. Program options are positional (only before a command) so that `--json` stays each command's
// own; excess arguments are allowed here (set after the commands, which must not inherit it) to report an unknown
// command as such.
program
  .enablePositionalOptions()
  .allowExcessArguments()
  .option("-V, --version", "print the version, Deno/V8, the pinned llama.cpp release and the kernel build hash")
  .option("--json", "with --version: as JSON")
  .action(async (opts: { version?: boolean; json?: boolean }, cmd: Command) => {
    if (cmd.args.length) cmd.error(`error: unknown command '${cmd.args[0]}'`, { code: "commander.unknownCommand" });
    if (!opts.version) cmd.help({ error: true });
    done(await (await import("./version.ts")).versionCommand(opts));
  });

/**
 * Run the CLI with the given arguments.
 *
 * @param args Command-line arguments (without the program name).
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; every other commander error is a usage error.
      return e.exitCode === 0 ? 0 : 2;
    }
    console.error(formatError(e));
    const usage = e instanceof UsageError ? activeUsageLine() : undefined;
    if (usage) console.error(usage);
    return exitCodeOf(e);
  }
  return exitCode;
}

/**
 * The hidden first argument with which the supervisor starts this same executable as the reference driver
 * (ffi/ref_process.ts `defaultDriverCommand`): inside a `deno compile` binary there is no separate script to run.
 */
const REFERENCE_CHILD = "__reference-child";

if (import.meta.main) {
  if (Deno.args[0] === REFERENCE_CHILD) await (await import("../ffi/ref_child.ts")).serveReferenceChild();
  Deno.exit(await main(Deno.args));
}
