/**
 * `crossval report [RECEIPT...] [--out ci/report.html] [--baseline FILE] [--open]`: render parity and bench receipts
 * (default: every `*.json` in `ci/`) as one self-contained HTML page (report/). A baseline among the files is used as
 * the baseline; else `--baseline`, else `docs/baselines/latest-cpu.json` as `validate` finds it. Token pieces come
 * from the receipts, and from the model file a parity receipt names when that file is still there and its
 * vocabulary hash is the receipt's. Also {@link writeReport}, the hook `validate` calls.
 *
 * Exit codes: 0 the page was written (whatever the receipts say: the page shows it; `validate` and
 * `receipt verify` are the gates); 2 no receipts, a named file missing, or the page cannot be written.
 *
 * @module
 */

import { basename, dirname } from "node:path";
import type { ReportInput } from "../report/mod.ts";
import { printJson } from "./_output.ts";
import { UsageError } from "./_errors.ts";

/** Flags of `report` as commander parses them. */
export interface ReportFlags {
  out: string;
  baseline?: string;
  open?: boolean;
  json?: boolean;
}

/** What {@link writeReport} wrote. */
export interface WrittenReport {
  /** The page's path. */
  readonly path: string;
  /** One line per receipt: where it came from, its kind, its status, whether it verified. */
  readonly receipts: readonly { source: string; kind: string; status: string | null; verified: boolean }[];
  /** Notes about what the page could not show (pieces not decoded, no baseline). */
  readonly notes: readonly string[];
}

async function readInput(source: string): Promise<ReportInput> {
  const text = await Deno.readTextFile(source); // a missing file is the caller's error (exit 2)
  try {
    return { source, json: JSON.parse(text) };
  } catch (e) {
    return { source, error: `not JSON (${(e as Error).message})` };
  }
}

async function writeTextAtomic(path: string, text: string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
  try {
    await Deno.writeTextFile(tmp, text);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  await Deno.rename(tmp, path);
}

/**
 * Decode the pieces of every token a parity receipt shows, from the model file it names, when that file is there
 * and its tokenizer is the receipt's (same vocabulary hash).
 */
async function piecesFor(json: unknown, notes: string[]): Promise<Map<number, string> | undefined> {
  const r = json as { model?: { path?: unknown }; tokenizer?: { vocab_sha256?: unknown } | null };
  const path = r?.model?.path, want = r?.tokenizer?.vocab_sha256;
  if (typeof path !== "string" || typeof want !== "string") return undefined;
  if (!(await Deno.stat(path).then((s) => s.isFile, () => false))) {
    notes.push(`${path} is not here: token strips show ids where the receipt has no pieces`);
    return undefined;
  }
  try {
    const { GgufFile } = await import("../engine/gguf/mod.ts");
    const { Tokenizer } = await import("../engine/tokenizer/mod.ts");
    const { parityTokenIds } = await import("../report/mod.ts");
    using f = GgufFile.open(path);
    const tok = Tokenizer.fromGguf(f);
    if (tok.identity.sha256 !== want) {
      notes.push(`${path} has another vocabulary than the receipt's: its pieces are not used`);
      return undefined;
    }
    const m = new Map<number, string>();
    for (const id of parityTokenIds(json as Parameters<typeof parityTokenIds>[0])) {
      if (id < tok.identity.vocabSize) m.set(id, tok.tokenToPiece(id, { special: true }));
    }
    return m;
  } catch (e) {
    notes.push(`cannot read the vocabulary of ${path}: ${(e as Error).message}`);
    return undefined;
  }
}

/**
 * Render receipts into an HTML page and write it atomically.
 *
 * @param files Receipt files (parity, bench; a baseline among them is used as the baseline).
 * @param opts `out`: page path; `baseline`: baseline file (default: as `validate` finds it; `null`: none).
 * @returns What was written.
 * @throws {Deno.errors.NotFound} When a named file or the named baseline does not exist.
 */
export async function writeReport(
  files: readonly string[],
  opts: { readonly out: string; readonly baseline?: string | null },
): Promise<WrittenReport> {
  const { renderReport } = await import("../report/mod.ts");
  const notes: string[] = [];
  const read = await Promise.all(files.map(readInput));
  const isBaseline = (i: ReportInput) => (i.json as { kind?: unknown } | undefined)?.kind === "baseline";
  const inputs: ReportInput[] = [];
  for (const i of read.filter((x) => !isBaseline(x))) {
    const parity = (i.json as { kind?: unknown } | undefined)?.kind === "parity";
    inputs.push(parity ? { ...i, pieces: await piecesFor(i.json, notes) } : i);
  }
  let baseline: ReportInput | null = read.filter(isBaseline).at(-1) ?? null;
  if (!baseline && opts.baseline) baseline = await readInput(opts.baseline);
  if (!baseline && opts.baseline === undefined) {
    const { readLatestBaseline } = await import("./bench.ts");
    try {
      baseline = { source: "docs/baselines/latest-cpu.json", json: JSON.parse(await readLatestBaseline()) };
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      notes.push("no baseline found (docs/baselines/latest-cpu.json): no regression verdicts");
    }
  }
  const page = renderReport(inputs, { baseline });
  await writeTextAtomic(opts.out, page);
  const { verifyReceipt } = await import("../receipts/verify.ts");
  return {
    path: opts.out,
    receipts: inputs.map((i) => {
      const j = i.json as { kind?: unknown; status?: unknown } | undefined;
      return {
        source: i.source,
        kind: typeof j?.kind === "string" ? j.kind : "unreadable",
        status: typeof j?.status === "string" ? j.status : null,
        verified: i.error === undefined && verifyReceipt(i.json).length === 0,
      };
    }),
    notes,
  };
}

async function defaultReceipts(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile && e.name.endsWith(".json")) out.push(`${dir}/${e.name}`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

function openCommand(path: string): [string, string[]] {
  if (Deno.build.os === "darwin") return ["open", [path]];
  if (Deno.build.os === "windows") return ["cmd", ["/c", "start", "", path]];
  return ["xdg-open", [path]];
}

/** Run `report`; returns the exit code. */
export async function reportCommand(files: string[], flags: ReportFlags): Promise<number> {
  const receipts = files.length ? files : await defaultReceipts("ci");
  if (!receipts.length) {
    throw new UsageError(
      "No receipts to report: ci/ has no *.json files. Run `crossval validate` (or `crossval parity` / " +
        "`crossval bench`) first, or name receipt files: crossval report FILE...",
    );
  }
  const w = await writeReport(receipts, { out: flags.out, baseline: flags.baseline });
  if (flags.json) {
    printJson({ report: w.path, receipts: w.receipts, notes: w.notes });
  } else {
    for (const n of w.notes) console.error(`note: ${n}`);
    console.log(`report: ${w.path} (${w.receipts.length} receipt(s))`);
  }
  if (flags.open) {
    const [cmd, args] = openCommand(w.path);
    try {
      await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).spawn().status;
    } catch (e) {
      console.error(`note: cannot open ${basename(w.path)} with ${cmd} (${(e as Error).message}); open it yourself`);
    }
  }
  return 0;
}
