/**
 * The `generate:make-model?...` source: runs the deterministic generator of `engine/synth` (the same code as
 * `crossval make-model`) into the partial file. The caller then hashes the file from disk and compares it with
 * the lockfile, exactly as for a download, so a change in the generator's output is caught like a tampered file.
 *
 * `engine/synth` is imported lazily: fetching a real model never loads the generator.
 *
 * @module
 */

/** What the generator wrote. */
export interface GeneratedFile {
  /** Bytes written. */
  bytes: number;
  /** The generator's own SHA-256 of what it wrote (cross-checked against a re-hash of the file). */
  sha256: string;
  /** Canonical spec text (`specToQuery`). */
  spec: string;
}

/**
 * Generates a synthetic model at `path`.
 *
 * @param path Destination (the partial file; the generator writes a temporary file next to it and renames).
 * @param params `make-model` options by flag name (`preset`, `embed-type`, ...), as in the lockfile URL.
 * @param options `onProgress(bytesWritten)` after each tensor.
 * @returns Size, the generator's hash and the canonical spec.
 * @throws {TypeError} When the parameters do not form a valid spec (the message names the parameter).
 * @example
 * ```ts
 * import { generateModelFile } from "./generate_source.ts";
 * const path = await Deno.makeTempFile();
 * const g = await generateModelFile(path, { preset: "tiny", seed: "1" });
 * console.log(g.bytes > 0); // true
 * ```
 */
export async function generateModelFile(
  path: string,
  params: Readonly<Record<string, string>>,
  options: { onProgress?: (bytes: number) => void } = {},
): Promise<GeneratedFile> {
  const synth = await import("../engine/synth/mod.ts");
  const query = new URLSearchParams(params as Record<string, string>).toString();
  let spec;
  try {
    spec = synth.specFromQuery(query);
  } catch (e) {
    throw new TypeError(`Cannot generate "make-model?${query}": ${(e as Error).message}`, { cause: e });
  }
  const r = await synth.writeSyntheticModel(path, spec, {
    onEvent: (ev) => options.onProgress?.(ev.bytes),
  });
  return { bytes: r.bytes, sha256: r.sha256, spec: synth.specToQuery(spec) };
}
