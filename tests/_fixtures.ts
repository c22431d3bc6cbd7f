/**
 * Cross-folder test fixtures: the generated models and scratch directories of `engine/synth/_testing.ts`, and what
 * `validate` writes for the CI tier.
 *
 * @module
 */

export { fixtureModel, withTempDir } from "../engine/synth/_testing.ts";

/** The files `crossval validate --out <dir>/parity.json` writes into `<dir>` for the lockfile's CI tier. */
export interface ValidateOutputs {
  /** Parity receipts: `parity.json` for one model, `parity-<name>.json` each for several. */
  readonly parity: readonly string[];
  /** Bench receipts, `bench_<name>.json`. */
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
  const parity = names.length === 1 ? ["parity.json"] : names.map((n) => `parity-${n}.json`);
  const bench = names.map((n) => `bench_${n}.json`);
  return { parity, bench, all: [...parity, ...bench, "report.html"].sort() };
}
