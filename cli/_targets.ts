/**
 * Which models a command runs on: `--model` (a GGUF file, or a lockfile model name already in the cache) or
 * `--tier` (every model of a lockfile tier, provisioned first). Shared by `parity`, `bench` and `validate`.
 *
 * @module
 */

import { UsageError } from "./_errors.ts";

/** A model to run on. */
export interface ModelTarget {
  /** GGUF path. */
  readonly path: string;
  /** Lockfile name, when it came from the lockfile. */
  readonly lockName: string | null;
  /** SHA-256 verified by the fetcher, when known. */
  readonly sha256: string | null;
}

/**
 * Provision the models of a tier through the lockfile (generated models are generated, downloads verified).
 *
 * @param tier Lockfile tier.
 * @param lockfile `--lockfile`, else the default lockfile.
 * @param log Receives one line per provisioned model.
 * @returns The tier's models, in lockfile order.
 * @throws {Error} With `exitCode` 2 when a model cannot be provisioned; the message names the retry command.
 */
export async function provisionTier(
  tier: string,
  lockfile: string | undefined,
  log: (line: string) => void,
): Promise<ModelTarget[]> {
  const { defaultLockfilePath, fetchModels, Lockfile } = await import("../lock/mod.ts");
  const lock = await Lockfile.load(lockfile ?? defaultLockfilePath());
  const report = await fetchModels(lock, { tier });
  const bad = report.models.filter((m) => m.error);
  if (bad.length) {
    const first = bad[0];
    throw Object.assign(
      new Error(
        `Cannot provision the ${tier} models: ${first.name}: ${first.error!.message}\n` +
          `Retry with: crossval fetch --tier ${tier}`,
        { cause: first.error },
      ),
      { exitCode: 2 },
    );
  }
  for (const m of report.models) log(`model ${m.name} ${m.status} (${m.path})`);
  return report.models.map((m) => ({ path: m.path, lockName: m.name, sha256: m.sha256 }));
}

/**
 * Resolve `--model`: an existing file, or a lockfile model name already in the cache.
 *
 * @param model The flag's value.
 * @param lockfile `--lockfile`, else the default lockfile.
 * @returns The model.
 * @throws {UsageError} When it is neither a file nor a possible lockfile name.
 * @throws Whatever `resolveModel` throws for a name that is not provisioned (its message names the fetch command).
 */
export async function resolveModelFlag(model: string, lockfile: string | undefined): Promise<ModelTarget> {
  try {
    if ((await Deno.stat(model)).isFile) return { path: model, lockName: null, sha256: null };
  } catch {
    // not a file: try it as a lockfile name
  }
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(model)) {
    throw new UsageError(
      `Cannot find model "${model}": no such file, and it is not a lockfile model name. Check the path.`,
    );
  }
  const { resolveModel } = await import("../lock/mod.ts");
  const r = await resolveModel(model, lockfile ? { lockfile } : {});
  return { path: r.path, lockName: r.entry?.name ?? model, sha256: r.sha256 };
}
