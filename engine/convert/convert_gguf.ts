/**
 * {@link convertGguf}: rewrite the ternary weights of a GGUF file in another ternary format, losslessly, or refuse
 * before writing anything. Two passes over the input: the first decodes every ternary tensor and plans it (so a
 * refusal comes before the first byte is written), the second streams the new file into a temporary file next to the
 * destination, one tensor at a time (ternary tensors are re-decoded, everything else is copied in chunks), hashing
 * as it goes, then renames it into place. Memory stays around the largest ternary tensor's codes (18 MB for 2B4T's
 * FFN), whatever the file size.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { GgufFile } from "../gguf/file.ts";
import { layoutGguf } from "../gguf/writer.ts";
import type { GgufKv, GgufTensorInfo } from "../gguf/types.ts";
import { GgmlType, ggmlTypeName } from "../quant/ggml_type.ts";
import type { I2SPacking } from "../quant/i2_s_packing.ts";
import { decodeTernary, isTernaryType } from "./ternary_weights.ts";
import { CHUNK, companionOf, readAt, scaleValue } from "./_private.ts";
import {
  type ConversionProblem,
  ConversionRefusedError,
  type ConvertTarget,
  convertTarget,
  type WeightPlan,
} from "./targets.ts";

/** Options of {@link convertGguf}. */
export interface ConvertOptions {
  /** Target: a built-in name (`tq2_0`, `tq1_0`, `i2_s`) or a target object. */
  readonly to: string | ConvertTarget;
  /** How the input's I2_S tensors are packed (default `act-parallel`, what real files carry). */
  readonly i2sPacking?: I2SPacking;
  /** Progress: one event per tensor in each pass. */
  readonly onEvent?: (e: ConvertEvent) => void;
}

/** Progress of a conversion. */
export interface ConvertEvent {
  /** `check`: decoding and planning; `write`: writing the new file. */
  readonly phase: "check" | "write";
  /** Tensor just handled. */
  readonly tensor: string;
  /** Tensors handled so far in this phase. */
  readonly done: number;
  /** Tensors in this phase. */
  readonly total: number;
}

/** What happened to one ternary weight. */
export interface ConvertedTensor {
  /** Tensor name. */
  readonly name: string;
  /** Source type (`I2_S`). */
  readonly from: string;
  /** Target type (`TQ2_0`). */
  readonly to: string;
  /** Its `.scale` tensor: none, kept as it was, written (new or changed), or folded into the weight. */
  readonly scaleTensor: "none" | "kept" | "written" | "folded";
  /** How the scales were carried over. */
  readonly note: string;
}

/** The converted file. */
export interface ConvertResult {
  /** Output path. */
  readonly path: string;
  /** SHA-256 of the output, lowercase hex. */
  readonly sha256: string;
  /** Output size in bytes. */
  readonly bytes: number;
  /** Input path. */
  readonly source: string;
  /** Target name. */
  readonly target: string;
  /** Every ternary weight, in file order. */
  readonly tensors: readonly ConvertedTensor[];
  /** Things a user should know about the result (which references can run it). */
  readonly notes: readonly string[];
  /** Wall time in milliseconds. */
  readonly ms: number;
}

function scaleBytes(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, v, true);
  return b;
}

function scaleAction(w: { tensorScale?: number }, plan: WeightPlan): ConvertedTensor["scaleTensor"] {
  if (plan.tensorScale === undefined) return w.tensorScale === undefined ? "none" : "folded";
  return w.tensorScale !== undefined && Object.is(w.tensorScale, plan.tensorScale) ? "kept" : "written";
}

/**
 * Convert a GGUF file's ternary weights to another ternary format, losslessly.
 *
 * @param input Source GGUF.
 * @param output Destination (written atomically: a temporary file beside it, then a rename).
 * @param options Target, input I2_S packing, progress callback.
 * @returns What was written.
 * @throws {ConversionRefusedError} When some weight cannot be converted without changing it; nothing is written.
 * @throws {RangeError} For an unknown target or a truncated or malformed input.
 * @example
 * ```ts
 * import { convertGguf } from "./convert_gguf.ts";
 * // const r = await convertGguf("model-i2_s.gguf", "model-tq2_0.gguf", { to: "tq2_0" });
 * // console.log(r.sha256, r.tensors.length);
 * ```
 */
export async function convertGguf(input: string, output: string, options: ConvertOptions): Promise<ConvertResult> {
  const t0 = performance.now();
  const target = typeof options.to === "string" ? convertTarget(options.to) : options.to;
  using src = GgufFile.open(input);
  const weights = src.tensors.filter((t) => isTernaryType(t.type));
  if (weights.length === 0) {
    throw new ConversionRefusedError(
      `Cannot convert "${input}": it has no TQ1_0, TQ2_0 or I2_S tensors, so there is nothing to convert.`,
      [{ tensor: "", reason: "no ternary tensors" }],
    );
  }
  const companions = new Map<string, GgufTensorInfo>();
  for (const w of weights) {
    const c = companionOf(src, w);
    if (c) companions.set(w.name, c);
  }
  const companionNames = new Set([...companions.values()].map((c) => c.name));

  // Pass 1: decode and plan every ternary weight; collect every refusal before writing anything.
  const decode = (t: GgufTensorInfo) => {
    const c = companions.get(t.name);
    return decodeTernary(t.type, src.readTensor(t.name), t.shape, {
      i2sPacking: options.i2sPacking,
      tensorScale: c ? scaleValue(src, c) : undefined,
    });
  };
  const plans = new Map<string, WeightPlan>();
  const converted: ConvertedTensor[] = [];
  const problems: ConversionProblem[] = [];
  weights.forEach((t, i) => {
    const w = decode(t);
    try {
      const plan = target.plan(t.name, w);
      plans.set(t.name, plan);
      converted.push({
        name: t.name,
        from: ggmlTypeName(t.type),
        to: ggmlTypeName(plan.type),
        scaleTensor: scaleAction(w, plan),
        note: plan.note,
      });
    } catch (e) {
      if (!(e instanceof ConversionRefusedError)) throw e;
      problems.push(...e.problems);
    }
    options.onEvent?.({ phase: "check", tensor: t.name, done: i + 1, total: weights.length });
  });
  if (problems.length) {
    const shown = problems.slice(0, 3).map((p) => `${p.tensor}: ${p.reason}`).join("\n  ");
    throw new ConversionRefusedError(
      `Cannot convert "${input}" to ${target.name} losslessly (${problems.length} of ${weights.length} ternary ` +
        `tensors refused; nothing was written):\n  ${shown}` +
        (problems.length > 3 ? `\n  ... and ${problems.length - 3} more` : ""),
      problems,
    );
  }

  // The new file's tensors: each weight in its new type, its .scale (if any) right after it.
  type Out = { name: string; shape: readonly number[]; type: number; produce: () => Uint8Array | "copy" };
  const outs: Out[] = [];
  for (const t of src.tensors) {
    if (companionNames.has(t.name)) continue;
    const plan = plans.get(t.name);
    if (!plan) {
      outs.push({ name: t.name, shape: t.shape, type: t.type, produce: () => "copy" });
      continue;
    }
    outs.push({
      name: t.name,
      shape: t.shape,
      type: plan.type,
      produce: () => target.encode(decode(t), t.shape, plan),
    });
    const companion = companions.get(t.name);
    if (plan.tensorScale !== undefined) {
      const v = plan.tensorScale;
      const name = t.name.slice(0, -".weight".length) + ".scale";
      outs.push({ name, shape: companion?.shape ?? [1], type: GgmlType.F32, produce: () => scaleBytes(v) });
    }
  }
  const metadata: [string, GgufKv][] = [...src.header.metadata].map(([k, kv]) =>
    k === "general.file_type" ? [k, { type: kv.type, value: target.fileType }] : [k, kv]
  );
  const layout = layoutGguf({
    metadata,
    tensors: outs.map((o) => ({ name: o.name, shape: o.shape, type: o.type, data: new Uint8Array(0) })),
  });

  // Pass 2: stream into a temporary file, then rename.
  const tmp = `${output}.tmp-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
  const hash = createHash("sha256");
  let bytes = 0;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  using inFile = Deno.openSync(input, { read: true });
  try {
    const write = async (chunk: Uint8Array) => {
      hash.update(chunk);
      bytes += chunk.length;
      let off = 0;
      while (off < chunk.length) off += await file.write(chunk.subarray(off));
    };
    await write(layout.header);
    let pos = 0;
    const buf = new Uint8Array(CHUNK);
    for (let i = 0; i < outs.length; i++) {
      const o = outs[i];
      const off = layout.offsets[i];
      if (off > pos) await write(new Uint8Array(off - pos));
      const data = o.produce();
      if (data === "copy") {
        const t = src.tensor(o.name)!;
        for (let at = 0; at < t.byteLength; at += CHUNK) {
          const part = buf.subarray(0, Math.min(CHUNK, t.byteLength - at));
          readAt(inFile, src.header.dataOffset + t.offset + at, part, `tensor ${t.name} of "${input}"`);
          await write(part);
        }
      } else {
        if (data.length !== layout.sizes[i]) {
          throw new RangeError(
            `Cannot write ${o.name}: encoded ${data.length} bytes, the layout has ${layout.sizes[i]}`,
          );
        }
        await write(data);
      }
      pos = off + layout.sizes[i];
      options.onEvent?.({ phase: "write", tensor: o.name, done: i + 1, total: outs.length });
    }
    const end = layout.fileSize - layout.header.length;
    if (end > pos) await write(new Uint8Array(end - pos));
    file.close();
    await Deno.rename(tmp, output);
  } catch (e) {
    try {
      file.close();
    } catch {
      // already closed
    }
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }

  const notes: string[] = [];
  const arch = src.architecture;
  if (target.type === GgmlType.I2_S) {
    notes.push("I2_S runs in this engine and in bitnet.cpp; stock llama.cpp rejects type 36 at load");
  } else if (arch === "bitnet") {
    notes.push(`${target.name.toUpperCase()} with arch "bitnet" runs in stock llama.cpp (and in this engine)`);
  } else {
    notes.push(
      `arch "${arch}" is unknown to stock llama.cpp, and ik_llama.cpp has no ${target.name.toUpperCase()}: ` +
        `this file runs in this engine only`,
    );
  }
  if (converted.some((c) => c.scaleTensor === "written")) {
    notes.push("some scales moved into .scale tensors (multiplied after the matmul by llama.cpp and this engine)");
  }
  return {
    path: output,
    sha256: hash.digest("hex"),
    bytes,
    source: input,
    target: target.name,
    tensors: converted,
    notes,
    ms: performance.now() - t0,
  };
}
