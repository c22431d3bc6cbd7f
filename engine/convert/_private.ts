/**
 * File helpers shared by the converter and its losslessness check. Not exported from `mod.ts`.
 *
 * @module
 */

import type { GgufFile } from "../gguf/file.ts";
import type { GgufTensorInfo } from "../gguf/types.ts";
import { GgmlType } from "../quant/ggml_type.ts";

/** Bytes per read when copying or comparing large tensors (keeps memory flat whatever the file size). */
export const CHUNK = 8 << 20;

/** Read exactly `dest.length` bytes at `offset`; throws naming `what` when the file ends first. */
export function readAt(file: Deno.FsFile, offset: number, dest: Uint8Array, what: string): void {
  let got = 0;
  file.seekSync(offset, Deno.SeekMode.Start);
  while (got < dest.length) {
    const n = file.readSync(dest.subarray(got));
    if (n === null || n <= 0) {
      throw new RangeError(
        `Cannot read ${what}: the file ends ${got} bytes into it (expected ${dest.length}). Re-fetch or regenerate it.`,
      );
    }
    got += n;
  }
}

/** The `{1}`-shaped F32 `.scale` tensor that goes with `<base>.weight`, if the file has one. */
export function companionOf(src: GgufFile, t: GgufTensorInfo): GgufTensorInfo | undefined {
  if (!t.name.endsWith(".weight")) return undefined;
  const s = src.tensor(t.name.slice(0, -".weight".length) + ".scale");
  return s && s.type === GgmlType.F32 && s.nElements === 1 ? s : undefined;
}

/** The f32 value of a `{1}` F32 tensor. */
export function scaleValue(src: GgufFile, t: GgufTensorInfo): number {
  const b = src.readTensor(t.name);
  return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
}
