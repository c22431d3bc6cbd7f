#!/usr/bin/env -S deno run -A
/**
 * `crossval`: the command table. Each command is a thin adapter in `cli/<command>.ts`, imported lazily so
 * `--help` is instant and needs no permissions. Exit codes: 0 ok, 1 the checked thing failed, 2 usage or
 * environment error.
 *
 * @module
 */

import { Command, CommanderError, Option } from "commander";
import { exitCodeOf, formatError } from "./_errors.ts";

/** Every adapter returns the process exit code. */
type Adapter = Promise<number>;

let exitCode = 0;
function done(code: number): void {
  exitCode = Math.max(exitCode, code);
}

const program = new Command("crossval")
  .description("Run BitNet b1.58 ternary models with our own engine and prove it against llama.cpp")
  .version("0.1.0", "-V, --version", "print the version")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

// --- commands (one block each, in the order of the README's reference) ---

program.command("make-model")
  .description("Generate a deterministic synthetic BitNet GGUF model (same arguments -> same bytes)")
  .addOption(new Option("--preset <preset>", "model shape").choices(["tiny", "2b4t"]).default("tiny"))
  .addOption(new Option("--arch <arch>", "architecture").choices(["bitnet", "bitnet-b1.58"]).default("bitnet"))
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
  .requiredOption("--out <file>", "output path")
  .option("--json", "machine-readable output")
  .action(async (opts): Adapter => done(await (await import("./make_model.ts")).makeModelCommand(opts)));

program.command("inspect")
  .description("Describe a GGUF model and validate it against its architecture's tensor manifest")
  .argument("<model>", "GGUF file")
  .option("--no-hash", "skip the SHA-256 of the file")
  .option("--json", "machine-readable output")
  .action(async (model: string, opts): Adapter => done(await (await import("./inspect.ts")).inspectCommand(model, opts)));

// --- end of commands ---

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
    return exitCodeOf(e);
  }
  return exitCode;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
