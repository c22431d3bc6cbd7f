/**
 * `crossval convert IN --to tq2_0|tq1_0|i2_s --out OUT`: rewrite a model's ternary weights in another ternary format,
 * losslessly (so an I2_S `bitnet` file runs in stock llama.cpp as TQ2_0), then prove it by dequantizing both files
 * element for element. A conversion that would change a weight is refused with the reason (exit 1) and writes
 * nothing. Progress on stderr when it is a terminal.
 *
 * @module
 */

import { styleText } from "node:util";
import {
  compareWeights,
  ConversionRefusedError,
  type ConvertEvent,
  convertGguf,
  type ConvertResult,
  type WeightComparison,
} from "../engine/convert/mod.ts";
import { type I2SPacking, parseI2SPacking } from "../engine/quant/i2_s_packing.ts";
import { humanBytes, printJson } from "./_output.ts";
import { UsageError } from "./_errors.ts";

/** Flags of `convert` as commander parses them. */
export interface ConvertFlags {
  to: string;
  out: string;
  i2sPacking?: string;
  verify?: boolean;
  json?: boolean;
}

function progress(enabled: boolean): (e: ConvertEvent) => void {
  let last = 0;
  return (e) => {
    if (!enabled) return;
    const now = performance.now();
    if (e.done < e.total && now - last < 100) return;
    last = now;
    const verb = e.phase === "check" ? "checking" : "writing";
    Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K  ${verb} ${e.done}/${e.total} ${e.tensor}`));
    if (e.done === e.total) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
  };
}

function json(r: ConvertResult, v: WeightComparison | undefined): unknown {
  return {
    path: r.path,
    sha256: r.sha256,
    size_bytes: r.bytes,
    source: r.source,
    target: r.target,
    lossless: v ? { verified: v.ok, tensors: v.tensors, elements: v.elements, problems: v.problems } : null,
    tensors: r.tensors.map((t) => ({
      name: t.name,
      from: t.from,
      to: t.to,
      scale_tensor: t.scaleTensor,
      note: t.note,
    })),
    notes: r.notes,
    ms: Math.round(r.ms),
  };
}

/** Run `convert`; returns the exit code. */
export async function convertCommand(input: string, flags: ConvertFlags): Promise<number> {
  let packing: I2SPacking | undefined;
  try {
    packing = flags.i2sPacking ? parseI2SPacking(flags.i2sPacking) : undefined;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const tty = !flags.json && Deno.stderr.isTerminal();
  let r: ConvertResult;
  try {
    r = await convertGguf(input, flags.out, { to: flags.to, i2sPacking: packing, onEvent: progress(tty) });
  } catch (e) {
    if (e instanceof ConversionRefusedError) {
      if (flags.json) {
        printJson({ refused: true, source: input, target: flags.to, message: e.message, problems: e.problems });
      } else console.error(`${styleText("red", "refused:")} ${e.message}`);
      return e.exitCode;
    }
    throw e;
  }
  const v = flags.verify === false ? undefined : compareWeights(input, r.path, { i2sPackingA: packing });
  if (flags.json) printJson(json(r, v));
  else {
    console.log(`${styleText("green", "wrote")} ${r.path} (${humanBytes(r.bytes)}, ${Math.round(r.ms)} ms)`);
    console.log(`  sha256  ${r.sha256}`);
    const kinds = new Map<string, number>();
    for (const t of r.tensors) kinds.set(`${t.from} -> ${t.to}`, (kinds.get(`${t.from} -> ${t.to}`) ?? 0) + 1);
    console.log(`  ${[...kinds].map(([k, n]) => `${n} x ${k}`).join(", ")}`);
    const written = r.tensors.filter((t) => t.scaleTensor === "written").length;
    const folded = r.tensors.filter((t) => t.scaleTensor === "folded").length;
    if (written) console.log(`  ${written} .scale tensors written (the weight's scale is not an f16 value)`);
    if (folded) console.log(`  ${folded} .scale tensors folded into the I2_S scale`);
    for (const n of r.notes) console.log(`  note: ${n}`);
    if (v) {
      console.log(
        v.ok
          ? `  ${styleText("green", "lossless")}: ${v.elements.toLocaleString("en-US")} weights in ${v.tensors} ` +
            `tensors equal element for element`
          : `  ${styleText("red", "NOT lossless")}:\n    ${v.problems.slice(0, 5).join("\n    ")}`,
      );
    }
  }
  if (v && !v.ok) {
    await Deno.remove(r.path).catch(() => {});
    console.error(`${styleText("red", "error:")} the converted file differs from its source; it was removed.`);
    return 1;
  }
  return 0;
}
