/**
 * Parsing numeric flag values (commander hands them over as strings) into numbers, with a usage error that names
 * the flag, the value and what is expected.
 *
 * @module
 */

import { UsageError } from "./_errors.ts";

/**
 * A numeric flag value.
 *
 * @param name Flag name without dashes (`top-p`).
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
  if (value.trim() === "" || !Number.isFinite(n) || !ok(n)) {
    throw new UsageError(`Invalid --${name} "${value}": expected ${expected}`);
  }
  return n;
}

/**
 * An integer flag value of at least `min`.
 *
 * @param name Flag name without dashes.
 * @param value The value as given (undefined when the flag is absent).
 * @param min Smallest acceptable value.
 * @returns The integer; undefined when `value` is.
 * @throws {UsageError} For anything but an integer >= `min`.
 */
export function intFlag(name: string, value: string, min: number): number;
/** An integer flag value of at least `min`, undefined when the flag is absent (see the first signature). */
export function intFlag(name: string, value: string | undefined, min: number): number | undefined;
export function intFlag(name: string, value: string | undefined, min: number): number | undefined {
  return numberFlag(name, value, (n) => Number.isInteger(n) && n >= min, `an integer >= ${min}`);
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
