/**
 * `crossval receipt verify FILE...`: check that receipts are valid evidence: the schema of their kind, and a
 * status that follows from their own numbers (recomputed), a reference that ran, compared tokens, real kernels.
 * Prints each problem with its JSON location, or with `--json` one object per file.
 *
 * Exit codes: 0 every receipt valid; 1 any problem; 2 a file cannot be read or is not JSON.
 *
 * @module
 */

import { styleText } from "node:util";
import { formatProblem, printJson } from "./_output.ts";

/** Flags of `receipt verify`. */
export interface ReceiptVerifyFlags {
  json?: boolean;
}

/** Run `receipt verify`; returns the exit code. */
export async function receiptVerifyCommand(files: string[], flags: ReceiptVerifyFlags): Promise<number> {
  const { verifyReceipt } = await import("../receipts/verify.ts");
  let code = 0;
  const out: unknown[] = [];
  for (const file of files) {
    let json: unknown;
    try {
      json = JSON.parse(await Deno.readTextFile(file));
    } catch (e) {
      const why = e instanceof SyntaxError ? `not JSON (${e.message})` : (e as Error).message;
      code = Math.max(code, 2);
      out.push({ file, valid: false, error: why });
      if (!flags.json) console.error(`${styleText("red", "✗")} ${file}: cannot read: ${why}`);
      continue;
    }
    const problems = verifyReceipt(json);
    const o = json as { kind?: unknown; status?: unknown };
    if (problems.length) code = Math.max(code, 1);
    out.push({ file, kind: o.kind ?? null, status: o.status ?? null, valid: problems.length === 0, problems });
    if (flags.json) continue;
    if (problems.length === 0) {
      // Bench receipts and baselines have no status: say only what the receipt states.
      const status = o.status === undefined ? "" : `, status ${String(o.status)}`;
      console.log(`${styleText("green", "✓")} ${file}: valid ${String(o.kind)} receipt${status}`);
    } else {
      console.log(`${styleText("red", "✗")} ${file}: ${problems.length} problem(s)`);
      for (const p of problems) console.log(`    ${formatProblem(p)}`);
    }
  }
  if (flags.json) printJson(out.length === 1 ? out[0] : out);
  return code;
}
