/**
 * Write a synthetic model to disk: streamed tensor by tensor into a temporary file next to the destination,
 * hashed while writing, then renamed into place (a reader never sees a half-written model).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { GgufFile } from "../gguf/file.ts";
import { writeGguf } from "../gguf/writer.ts";
import type { ModelConfig } from "../model/config.ts";
import { synthesizeModel } from "./generate.ts";
import { normalizeSpec, type SynthSpec } from "./spec.ts";

/** What was written. */
export interface SynthResult {
  /** Final path. */
  readonly path: string;
  /** SHA-256 of the file, lowercase hex. */
  readonly sha256: string;
  /** File size in bytes. */
  readonly bytes: number;
  /** The normalized spec. */
  readonly spec: SynthSpec;
  /** Hyperparameters of the model. */
  readonly config: ModelConfig;
  /** Generation time in milliseconds. */
  readonly ms: number;
}

/** Progress while writing: one event per tensor. */
export interface SynthEvent {
  /** Tensor just written. */
  readonly tensor: string;
  /** Tensors written so far. */
  readonly done: number;
  /** Total tensors. */
  readonly total: number;
  /** Bytes written so far. */
  readonly bytes: number;
}

/**
 * Generate a synthetic model and write it to `path` atomically.
 *
 * @param path Destination file (its directory must exist).
 * @param spec Model spec (defaults filled in: tiny, bitnet, tq2_0, f16, seed 1).
 * @param opts.onEvent Called after each tensor.
 * @returns Path, SHA-256, size and config.
 * @throws {RangeError} For impossible specs; file-system errors as thrown by Deno.
 * @example
 * ```ts
 * import { writeSyntheticModel } from "./write.ts";
 * const r = await writeSyntheticModel("/tmp/tiny.gguf", { preset: "tiny", seed: 1 });
 * console.log(r.sha256);
 * ```
 */
export async function writeSyntheticModel(
  path: string,
  spec: Partial<SynthSpec>,
  opts: { onEvent?: (e: SynthEvent) => void } = {},
): Promise<SynthResult> {
  const t0 = performance.now();
  const full = normalizeSpec(spec);
  using vocabFile = full.vocab ? GgufFile.open(full.vocab) : undefined;
  const { gguf, config } = synthesizeModel(full, vocabFile ? { vocabFile } : {});
  const tmp = `${path}.tmp-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
  const hash = createHash("sha256");
  let bytes = 0;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    let done = 0;
    const total = gguf.tensors.length;
    const tensors = gguf.tensors.map((t) => ({
      ...t,
      data: () => {
        const d = typeof t.data === "function" ? t.data() : t.data;
        opts.onEvent?.({ tensor: t.name, done: ++done, total, bytes: bytes + d.length });
        return d;
      },
    }));
    await writeGguf({ metadata: gguf.metadata, tensors }, {
      async write(chunk) {
        hash.update(chunk);
        bytes += chunk.length;
        let off = 0;
        while (off < chunk.length) off += await file.write(chunk.subarray(off));
      },
    });
    file.close();
    await Deno.rename(tmp, path);
  } catch (e) {
    try {
      file.close();
    } catch {
      // already closed
    }
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  return { path, sha256: hash.digest("hex"), bytes, spec: full, config, ms: performance.now() - t0 };
}
