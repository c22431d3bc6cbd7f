/**
 * Cross-folder test fixtures: the generated models and scratch directories of `engine/synth/_testing.ts`, and what
 * `validate` writes for the CI tier.
 *
 * @module
 */

export { fixtureModel, withTempDir } from "../engine/synth/_testing.ts";

/**
 * The files `crossval validate --out <dir>/parity.json` writes into `<dir>` for the lockfile's CI tier, with both
 * numerics profiles (validate's default).
 */
export interface ValidateOutputs {
  /**
   * Parity receipts: `parity.json` for one model, `parity-<name>.json` each for several (the exact profile), and
   * the same with `parity-fast` for the fast profile.
   */
  readonly parity: readonly string[];
  /** Bench receipts, `bench_<name>.json` (fast profile) and `bench_<name>-exact.json`. */
  readonly bench: readonly string[];
  /** Every file, the report (`report.html`) included, sorted. */
  readonly all: readonly string[];
}

/**
 * The CI tier's validate outputs, derived from the repository's lockfile, so tests follow the tier as it grows.
 *
 * @returns The file names.
 */
export async function validateOutputs(): Promise<ValidateOutputs> {
  const lock = JSON.parse(await Deno.readTextFile(new URL("../crossval-models.lock.json", import.meta.url)));
  const names: string[] = lock.models.filter((m: { tier: string }) => m.tier === "ci").map((m: { name: string }) =>
    m.name
  );
  const parity = ["parity", "parity-fast"].flatMap((stem) =>
    names.length === 1 ? [`${stem}.json`] : names.map((n) => `${stem}-${n}.json`)
  );
  const bench = names.flatMap((n) => [`bench_${n}.json`, `bench_${n}-exact.json`]);
  return { parity, bench, all: [...parity, ...bench, "report.html"].sort() };
}
