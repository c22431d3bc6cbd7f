/**
 * Flags and usage errors, in one place. Numeric options are declared with {@link intOption},
 * {@link intListOption} or {@link numberOption}: commander parses them while it parses the command line, so a bad
 * value (`--threads 0`, `-n -1`, `--reps abc`, `--top-p 2`) fails before any work with a message that names the flag,
 * the value and the allowed range, and the command's adapter receives a number. Every usage error, from commander
 * (unknown flag, missing value, bad choice) or from an adapter ({@link UsageError}), exits 2 and ends with the usage
 * line of the command that was run ({@link installUsageLines}, {@link usageLine}).
 *
 * The ranges are the {@link RANGES} table: the limits of what the engines accept, with the source of each.
 *
 * @module
 */

import { type Command, InvalidArgumentError, Option } from "commander";
import { UsageError } from "./_errors.ts";

/** An inclusive range of integers. */
export interface IntRange {
  /** Smallest allowed value. */
  readonly min: number;
  /** Largest allowed value. */
  readonly max: number;
}

/**
 * Integer ranges of the numeric flags.
 * - `threads`: ggml's `GGML_MAX_N_THREADS` (512, ggml/include/ggml.h), since both engines get the same count.
 * - `tokens` (`-n`, `--steps`, `--pp`, `--tg`) and `ctx`: 2^20, far above any BitNet model's training context
 *   (4096), and far below the 2^31 positions llama.cpp's `int32_t llama_pos` counts (include/llama.h).
 * - `seed`: an unsigned 32-bit integer (llama.cpp's `llama_sampler_init_dist(uint32_t seed)`, our mulberry32 state).
 * - `jobs`: compile jobs of a reference build, one to 1024 (far above any machine's cores; make takes any count).
 * - `timeoutSeconds`: the longest delay a JavaScript timer can wait (2^31 - 1 ms; `setTimeout` fires at once beyond
 *   it), so a budget can always be enforced by a timer.
 */
export const RANGES = {
  threads: { min: 1, max: 512 },
  tokens: { min: 0, max: 1 << 20 },
  ctx: { min: 1, max: 1 << 20 },
  parityCtx: { min: 16, max: 1 << 20 },
  reps: { min: 1, max: 10_000 },
  warmup: { min: 0, max: 10_000 },
  topK: { min: 0, max: 2 ** 31 - 1 },
  seed: { min: 0, max: 2 ** 32 - 1 },
  jobs: { min: 1, max: 1024 },
  timeoutSeconds: { min: 1, max: Math.floor((2 ** 31 - 1) / 1000) },
} as const satisfies Record<string, IntRange>;

const DECIMAL_INT = /^[+-]?\d+$/;
const DECIMAL_NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function rangeText(r: IntRange): string {
  return r.max === Infinity ? `an integer >= ${r.min}` : `an integer from ${r.min} to ${r.max}`;
}

/**
 * Parses a decimal integer within a range.
 *
 * @param value The text.
 * @param range Allowed values.
 * @returns The integer.
 * @throws {RangeError} Naming the allowed range, for anything but a decimal integer inside it.
 * @example
 * ```ts
 * import { parseIntIn } from "./_flags.ts";
 * console.log(parseIntIn("8", { min: 1, max: 512 })); // 8
 * ```
 */
export function parseIntIn(value: string, range: IntRange): number {
  const n = Number(value);
  if (!DECIMAL_INT.test(value.trim()) || !Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new RangeError(`Expected ${rangeText(range)}.`);
  }
  return n;
}

/** Bounds of a real-valued flag; `exclusive` bounds are not themselves allowed. */
export interface NumberBounds {
  /** Lower bound. */
  readonly min?: number;
  /** Whether `min` itself is excluded. */
  readonly minExclusive?: boolean;
  /** Upper bound. */
  readonly max?: number;
  /** Whether `max` itself is excluded. */
  readonly maxExclusive?: boolean;
}

function boundsText(b: NumberBounds): string {
  if (b.min !== undefined && b.max !== undefined) {
    return `a number in ${b.minExclusive ? "(" : "["}${b.min}, ${b.max}${b.maxExclusive ? ")" : "]"}`;
  }
  if (b.min !== undefined) return `a number ${b.minExclusive ? ">" : ">="} ${b.min}`;
  if (b.max !== undefined) return `a number ${b.maxExclusive ? "<" : "<="} ${b.max}`;
  return "a finite number";
}

/**
 * Parses a decimal number within bounds.
 *
 * @param value The text.
 * @param bounds Allowed values.
 * @returns The number.
 * @throws {RangeError} Naming the allowed range, for anything else (also `NaN`, `Infinity`, hex).
 * @example
 * ```ts
 * import { parseNumberIn } from "./_flags.ts";
 * console.log(parseNumberIn("0.95", { min: 0, minExclusive: true, max: 1 })); // 0.95
 * ```
 */
export function parseNumberIn(value: string, bounds: NumberBounds): number {
  const n = Number(value);
  const ok = DECIMAL_NUMBER.test(value.trim()) && Number.isFinite(n) &&
    (bounds.min === undefined || (bounds.minExclusive ? n > bounds.min : n >= bounds.min)) &&
    (bounds.max === undefined || (bounds.maxExclusive ? n < bounds.max : n <= bounds.max));
  if (!ok) throw new RangeError(`Expected ${boundsText(bounds)}.`);
  return n;
}

function parser<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

/**
 * An integer option, parsed and range-checked by commander.
 *
 * @param flags Commander flags, e.g. `"--threads <n>"`.
 * @param description Help text.
 * @param range Allowed values.
 * @param defaultValue Default (shown in `--help`).
 * @returns The option.
 * @example
 * ```ts
 * import { intOption, RANGES } from "./_flags.ts";
 * const option = intOption("--threads <n>", "threads", RANGES.threads);
 * console.log(option.long); // "--threads"
 * ```
 */
export function intOption(flags: string, description: string, range: IntRange, defaultValue?: number): Option {
  const o = new Option(flags, description).argParser(parser((v) => parseIntIn(v, range)));
  return defaultValue === undefined ? o : o.default(defaultValue);
}

/**
 * A comma-separated list of integers (`--pp 64,128`), each in `range`.
 *
 * @param flags Commander flags.
 * @param description Help text.
 * @param range Allowed values of each item.
 * @param defaultValue Default list.
 * @returns The option; its value is a `number[]`.
 * @example
 * ```ts
 * import { intListOption, RANGES } from "./_flags.ts";
 * console.log(intListOption("--pp <n,...>", "prompt lengths", RANGES.tokens, [64]).defaultValue); // [64]
 * ```
 */
export function intListOption(
  flags: string,
  description: string,
  range: IntRange,
  defaultValue?: number[],
): Option {
  const o = new Option(flags, description).argParser(parser((v) => v.split(",").map((x) => parseIntIn(x, range))));
  return defaultValue === undefined ? o : o.default(defaultValue, defaultValue.join(","));
}

/**
 * `--reference <ref>`: which C++ reference a command compares with (parity/reference_plan.ts `selectReference`); the
 * same option on every command that runs a reference.
 *
 * @returns The option.
 * @example
 * ```ts
 * import { referenceOption } from "./_flags.ts";
 * console.log(referenceOption().long); // "--reference"
 * ```
 */
export function referenceOption(): Option {
  return new Option(
    "--reference <ref>",
    "reference: llama.cpp (pinned), ik_llama (built from source), or a path (llama.cpp build dir, source checkout); " +
      "default by architecture: bitnet, llama -> llama.cpp; bitnet-b1.58 -> ik_llama",
  );
}

/**
 * `--ik-format <format>`: what ik_llama.cpp is fed, the lossless F32 transcode or its own IQ2_BN.
 *
 * @returns The option.
 * @example
 * ```ts
 * import { ikFormatOption } from "./_flags.ts";
 * console.log(ikFormatOption().argChoices); // ["f32", "iq2_bn"]
 * ```
 */
export function ikFormatOption(): Option {
  return new Option(
    "--ik-format <format>",
    "ik_llama.cpp's input: lossless F32 transcode, or its own IQ2_BN (rows >= 512)",
  )
    .choices(["f32", "iq2_bn"]);
}

/** The kernel sets `--numerics` names (engine/backends/type_kernels.ts `NUMERICS_PROFILES`). */
const NUMERICS = ["exact", "fast"] as const;

/**
 * `--numerics <profile>`: the engine's kernel set, `exact` (llama.cpp's x86 float order, bit for bit) or `fast`
 * (WebAssembly-native numerics).
 *
 * @param defaultValue The command's default.
 * @returns The option; its value is `"exact"` or `"fast"`.
 * @example
 * ```ts
 * import { numericsOption } from "./_flags.ts";
 * console.log(numericsOption("fast").defaultValue); // "fast"
 * ```
 */
export function numericsOption(defaultValue: "exact" | "fast"): Option {
  return new Option(
    "--numerics <profile>",
    "kernel set: fast (WebAssembly-native numerics) or exact (llama.cpp's x86 float order, bit-identical logits)",
  ).choices(NUMERICS).default(defaultValue);
}

/**
 * `--numerics <profile,...>`: several kernel sets, each run in turn (duplicates removed, order kept).
 *
 * @param defaultValue The command's default list.
 * @param description Help text.
 * @returns The option; its value is a list of `"exact"` / `"fast"`.
 * @example
 * ```ts
 * import { numericsListOption } from "./_flags.ts";
 * console.log(numericsListOption(["exact", "fast"], "profiles").defaultValue); // ["exact", "fast"]
 * ```
 */
export function numericsListOption(defaultValue: readonly ("exact" | "fast")[], description: string): Option {
  return new Option("--numerics <profile,...>", description).argParser(parser((v) => {
    const list = [...new Set(v.split(",").map((x) => x.trim()))];
    const bad = list.find((x) => !(NUMERICS as readonly string[]).includes(x));
    if (bad !== undefined || list.length === 0) {
      throw new RangeError(`Expected a comma-separated list of ${NUMERICS.join(", ")} (got "${bad ?? v}").`);
    }
    return list;
  })).default([...defaultValue], defaultValue.join(","));
}

/**
 * A real-valued option, parsed and bounds-checked by commander.
 *
 * @param flags Commander flags.
 * @param description Help text.
 * @param bounds Allowed values.
 * @param defaultValue Default.
 * @returns The option.
 * @example
 * ```ts
 * import { numberOption } from "./_flags.ts";
 * console.log(numberOption("--top-p <p>", "nucleus", { min: 0, minExclusive: true, max: 1 }).long); // "--top-p"
 * ```
 */
export function numberOption(flags: string, description: string, bounds: NumberBounds, defaultValue?: number): Option {
  const o = new Option(flags, description).argParser(parser((v) => parseNumberIn(v, bounds)));
  return defaultValue === undefined ? o : o.default(defaultValue);
}

/**
 * A numeric flag value that an adapter parses itself (commands whose options are not declared with
 * {@link intOption} yet).
 *
 * @param name Flag name without dashes (`top-p`, `n`).
 * @param value The value as given, or undefined when the flag is absent.
 * @param ok Whether the number is acceptable.
 * @param expected What is acceptable, for the message (`a number in (0, 1]`).
 * @returns The number, or undefined when the flag is absent.
 * @throws {UsageError} For an empty, non-numeric, non-finite or unacceptable value.
 */
export function numberFlag(name: string, value: string, ok: (n: number) => boolean, expected: string): number;
/** A numeric flag value, undefined when the flag is absent (see the first signature). */
export function numberFlag(
  name: string,
  value: string | undefined,
  ok: (n: number) => boolean,
  expected: string,
): number | undefined;
export function numberFlag(
  name: string,
  value: string | undefined,
  ok: (n: number) => boolean,
  expected: string,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!DECIMAL_NUMBER.test(value.trim()) || !Number.isFinite(n) || !ok(n)) {
    throw new UsageError(`Invalid ${name.length === 1 ? "-" : "--"}${name} "${value}": expected ${expected}`);
  }
  return n;
}

/**
 * An integer flag value of at least `min` that an adapter parses itself.
 *
 * @param name Flag name without dashes.
 * @param value The value as given (undefined when the flag is absent).
 * @param min Smallest acceptable value.
 * @returns The integer; undefined when `value` is.
 * @throws {UsageError} For anything but a decimal integer >= `min`.
 */
export function intFlag(name: string, value: string, min: number): number;
/** An integer flag value of at least `min`, undefined when the flag is absent (see the first signature). */
export function intFlag(name: string, value: string | undefined, min: number): number | undefined;
export function intFlag(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  return numberFlag(
    name,
    value,
    (n) => DECIMAL_INT.test(value.trim()) && Number.isSafeInteger(n) && n >= min,
    `an integer >= ${min}`,
  );
}

/**
 * The prompt from `--prompt <text>` or `--prompt-file <file>` (exactly one of them).
 *
 * @param flags The two flags as commander parsed them.
 * @returns The prompt text.
 * @throws {UsageError} When neither or both are given, or the file does not exist.
 */
export async function promptFlag(flags: { prompt?: string; promptFile?: string }): Promise<string> {
  if ((flags.prompt === undefined) === (flags.promptFile === undefined)) {
    throw new UsageError("Give the prompt with exactly one of --prompt <text> or --prompt-file <file>");
  }
  if (flags.promptFile === undefined) return flags.prompt!;
  try {
    return await Deno.readTextFile(flags.promptFile);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(`Cannot read --prompt-file "${flags.promptFile}": no such file. Check the path.`);
    }
    throw e;
  }
}

/**
 * The usage line of a command: its full name, its required options and its arguments, then `[options]`, e.g.
 * `crossval run --model <gguf> [options]`.
 *
 * @param cmd A command of the table.
 * @returns Two lines: the usage, and where the options are listed.
 */
export function usageLine(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  const required = cmd.options.filter((o) => o.mandatory).map((o) => o.flags.replace(/^-\w, /, ""));
  const args = cmd.registeredArguments.map((a) => {
    const n = `${a.name()}${a.variadic ? "..." : ""}`;
    return a.required ? `<${n}>` : `[${n}]`;
  });
  const full = names.join(" ");
  return `Usage: ${[full, ...required, ...args, "[options]"].join(" ")}\nSee: ${full} --help`;
}

/**
 * Makes every command of the table print its usage line after a commander usage error (commander prints the
 * error itself, then this text), and records which command runs so that a {@link UsageError} thrown by its
 * adapter gets the same line ({@link activeUsageLine}).
 *
 * @param program The root command, after every command was added.
 */
export function installUsageLines(program: Command): void {
  const visit = (cmd: Command) => {
    cmd.showHelpAfterError(
      cmd === program ? "Usage: crossval <command> [options]\nSee: crossval --help" : usageLine(cmd),
    );
    cmd.commands.forEach(visit);
  };
  visit(program);
  program.hook("preAction", (_root, action) => {
    active = action;
  });
}

let active: Command | undefined;

/**
 * The usage line of the command whose action is running, for usage errors its adapter throws.
 *
 * @returns The line, or undefined before any action ran.
 */
export function activeUsageLine(): string | undefined {
  return active && active.parent ? usageLine(active) : undefined;
}
