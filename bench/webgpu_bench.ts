/**
 * The WebGPU backend's speed on one model, labelled with the adapter: one command, no interaction.
 *
 * ```sh
 * deno run -A bench/webgpu_bench.ts                       # bench-2b4t-tq2 (the 2B4T shape, generated on first use)
 * deno run -A bench/webgpu_bench.ts --model ci-tiny --pp 64 --tg 16 --reps 2   # a smoke run
 * deno run -A bench/webgpu_bench.ts --baseline wasm --doc docs/performance.md # also time wasm, update the table
 * ```
 *
 * It runs llama-bench's tests (`pp<N>`: one N-token prompt evaluation; `tg<N>`: N single-token decodes, each
 * reading its logits back) on our engine with `backend: "webgpu"`, after one warm-up repetition (pipelines compile
 * on first use), and optionally interleaved with another backend of ours (`--baseline wasm`: a ratio inside one run).
 * It writes `<out>.json` (atomically) and `<out>.md` (one markdown table row), and with `--doc FILE` puts the row
 * into FILE's table between `<!-- webgpu-bench:begin -->` and `<!-- webgpu-bench:end -->` (one row per adapter and
 * model, replaced on rerun). A software adapter (Mesa llvmpipe) is labelled `[CPU fallback]` everywhere.
 *
 * Flags: `--model <lockfile name | path.gguf>` (default `bench-2b4t-tq2`), `--pp N` (128), `--tg N` (32),
 * `--reps N` (3), `--baseline wasm|ref`, `--threads N` (for the baseline), `--out PATH` (`ci/webgpu_bench`),
 * `--doc FILE`, `--timeout-ms N` (a wait on queued work; default 300000).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Engine } from "../engine/engine.ts";
import type { BackendKind } from "../engine/backends/backend.ts";
import { describeWebGpu, type WebGpuReport } from "../engine/backends/webgpu/device.ts";
import { defaultLockfilePath, fetchModels, Lockfile, resolveModel } from "../lock/mod.ts";
import { writeJsonAtomic } from "../receipts/write.ts";
import { type BenchTest, parseTestName, repetitionTokens, testTokenCount, timeRepetition } from "./measure.ts";
import { median } from "../receipts/stats.ts";
import { type BenchSubject, engineBenchSubject } from "./subject.ts";

/** One test's measurements on one backend. */
export interface WebGpuBenchTest {
  /** llama-bench test name (`pp128`, `tg32`). */
  readonly test: string;
  /** Backend measured. */
  readonly backend: BackendKind;
  /** Tokens/s of each measured repetition. */
  readonly samples_ts: readonly number[];
  /** Their median. */
  readonly median_ts: number;
}

/** The JSON record the script writes. */
export interface WebGpuBenchRecord {
  /** Record kind. */
  readonly kind: "webgpu-bench";
  /** RFC 3339. */
  readonly timestamp: string;
  /** The adapter (vendor, architecture, description, limits, fallback flag). */
  readonly adapter: WebGpuReport;
  /** What the engine reported as its device. */
  readonly device: string;
  /** Whether WGSL `fma` fused on this device (else the backend emulated it exactly). */
  readonly fused_fma: boolean;
  /** The model. */
  readonly model: {
    readonly name: string;
    readonly path: string;
    readonly bytes: number;
    readonly weight_type: string;
    readonly embedding_type: string;
  };
  /** Runtime. */
  readonly runtime: { readonly deno: string; readonly v8: string; readonly os: string; readonly arch: string };
  /** Repetitions per test (after one warm-up). */
  readonly reps: number;
  /** Every test on every backend. */
  readonly results: readonly WebGpuBenchTest[];
  /** Milliseconds to load the model into the WebGPU backend (device, pipelines excluded, weights upload). */
  readonly load_ms: number;
}

/**
 * The markdown table row of a record: date, adapter, model, webgpu tok/s per test, and the baseline's when measured.
 *
 * @param r A record.
 * @returns One `| ... |` line.
 * @example
 * ```ts
 * import { markdownRow, type WebGpuBenchRecord } from "./webgpu_bench.ts";
 * const label = "llvmpipe (LLVM 15.0.6, 256 bits) [CPU fallback]";
 * const record: WebGpuBenchRecord = {
 *   kind: "webgpu-bench",
 *   timestamp: "2026-12-07T10:00:00.000Z",
 *   adapter: {
 *     ...{ available: true, vendor: "", architecture: "", device: "", description: "" },
 *     ...{ isFallbackAdapter: true, label, wgslFeatures: [] },
 *   },
 *   device: `WebGPU ${label}`,
 *   fused_fma: false,
 *   model: { name: "ci-tiny", path: "tiny.gguf", bytes: 1386336, weight_type: "TQ2_0", embedding_type: "F16" },
 *   runtime: { deno: "2.9.6", v8: "15.0", os: "linux", arch: "x86_64" },
 *   reps: 3,
 *   results: [
 *     { test: "tg32", backend: "webgpu", samples_ts: [40, 41, 42], median_ts: 41 },
 *     { test: "tg32", backend: "wasm", samples_ts: [90, 91, 92], median_ts: 91 },
 *   ],
 *   load_ms: 120,
 * };
 * console.log(markdownRow(record));
 * // | 2026-12-07 | llvmpipe (LLVM 15.0.6, 256 bits) [CPU fallback] | ci-tiny (TQ2_0) | tg32 41.00 |
 * //   wasm: tg32 91.00 | Deno 2.9.6, fma emulated |
 * ```
 */
export function markdownRow(r: WebGpuBenchRecord): string {
  const cell = (backend: BackendKind, test: string): string => {
    const t = r.results.find((x) => x.backend === backend && x.test === test);
    return t ? t.median_ts.toFixed(t.median_ts >= 100 ? 0 : 2) : "-";
  };
  const tests = [...new Set(r.results.map((x) => x.test))];
  const base = r.results.find((x) => x.backend !== "webgpu")?.backend;
  const ours = tests.map((t) => `${t} ${cell("webgpu", t)}`).join(", ");
  const theirs = base ? tests.map((t) => `${t} ${cell(base, t)}`).join(", ") : "-";
  return `| ${r.timestamp.slice(0, 10)} | ${r.adapter.label} | ${r.model.name} (${r.model.weight_type}) | ${ours} | ` +
    `${base ? `${base}: ${theirs}` : "-"} | Deno ${r.runtime.deno}, fma ${r.fused_fma ? "native" : "emulated"} |`;
}

/**
 * Put `row` into `doc`'s webgpu-bench table (between the markers), replacing a row of the same adapter and model.
 *
 * @param doc Markdown text with the markers.
 * @param row A {@link markdownRow} line.
 * @returns The new text.
 * @throws {RangeError} When the markers are missing.
 */
export function upsertRow(doc: string, row: string): string {
  const begin = "<!-- webgpu-bench:begin -->", end = "<!-- webgpu-bench:end -->";
  const a = doc.indexOf(begin), b = doc.indexOf(end);
  if (a < 0 || b < a) {
    throw new RangeError(`Cannot update the WebGPU table: the file has no "${begin}" ... "${end}" block. Add one.`);
  }
  const key = (line: string) => line.split("|").slice(2, 4).map((s) => s.trim()).join("|");
  const lines = doc.slice(a + begin.length, b).split("\n").filter((l) => l.trim() !== "");
  const header = lines.filter((l) => !l.startsWith("| 2"));
  const rows = lines.filter((l) => l.startsWith("| 2") && key(l) !== key(row));
  return doc.slice(0, a + begin.length) + "\n" + [...header, ...rows, row].join("\n") + "\n" + doc.slice(b);
}

async function measure(subject: BenchSubject, test: BenchTest, reps: number): Promise<number[]> {
  const out: number[] = [];
  for (let rep = -1; rep < reps; rep++) {
    const ids = repetitionTokens(test, Math.max(0, rep), { seed: 1, nVocab: subject.nVocab, bos: subject.bos });
    const r = await timeRepetition(subject, test, ids);
    if (rep >= 0) out.push(r.ts);
  }
  return out;
}

async function modelPath(model: string): Promise<{ name: string; path: string }> {
  if (model.endsWith(".gguf")) return { name: model.slice(model.lastIndexOf("/") + 1, -5), path: model };
  const lock = await Lockfile.load(defaultLockfilePath());
  const report = await fetchModels(lock, { model });
  if (!report.ok) {
    throw new Error(
      `Cannot provision "${model}": ${JSON.stringify(report.models)}. Run: crossval fetch --model ${model}`,
    );
  }
  return { name: model, path: (await resolveModel(model)).path };
}

async function main(args: string[]): Promise<number> {
  const { values: f } = parseArgs({
    args,
    options: {
      model: { type: "string", default: "bench-2b4t-tq2" },
      pp: { type: "string", default: "128" },
      tg: { type: "string", default: "32" },
      reps: { type: "string", default: "3" },
      baseline: { type: "string" },
      threads: { type: "string" },
      out: { type: "string", default: "ci/webgpu_bench" },
      doc: { type: "string" },
      "timeout-ms": { type: "string" },
    },
  });
  const reps = Number(f.reps), pp = Number(f.pp), tg = Number(f.tg);
  if (![reps, pp, tg].every((n) => Number.isInteger(n) && n >= 1)) {
    console.error("error: --reps, --pp and --tg take positive integers");
    return 2;
  }
  if (f.baseline !== undefined && f.baseline !== "wasm" && f.baseline !== "ref") {
    console.error(`error: --baseline "${f.baseline}": expected wasm or ref`);
    return 2;
  }
  const adapter = await describeWebGpu();
  if (!adapter.available) {
    console.error(`error: ${adapter.reason}`);
    return 2;
  }
  console.error(`adapter: ${adapter.label}`);
  const { name, path } = await modelPath(f.model!);
  const tests = [parseTestName(`pp${pp}`), parseTestName(`tg${tg}`)];
  const nCtx = Math.max(...tests.map(testTokenCount));
  const backends: BackendKind[] = ["webgpu", ...(f.baseline ? [f.baseline as BackendKind] : [])];
  const results: WebGpuBenchTest[] = [];
  let loadMs = 0, device = "", info = { weightType: "", embeddingType: "" };
  for (const backend of backends) {
    const threads = backend === "webgpu" ? undefined : f.threads ? Number(f.threads) : undefined;
    using engine = await Engine.load(path, { backend, nCtx, ...(threads ? { threads } : {}) });
    const ei = engine.info();
    if (backend === "webgpu") {
      loadMs = ei.loadMs;
      device = ei.device;
      info = { weightType: ei.weightType, embeddingType: ei.embeddingType };
    }
    const subject = engineBenchSubject(engine);
    for (const test of tests) {
      const samples = await measure(subject, test, reps);
      results.push({ test: test.name, backend, samples_ts: samples, median_ts: median(samples) });
      console.error(`  ${backend.padEnd(6)} ${test.name.padEnd(6)} ${median(samples).toFixed(2)} tok/s`);
    }
  }
  const record: WebGpuBenchRecord = {
    kind: "webgpu-bench",
    timestamp: new Date().toISOString(),
    adapter,
    device,
    fused_fma: await fusedFma(),
    model: {
      name,
      path,
      bytes: Deno.statSync(path).size,
      weight_type: info.weightType,
      embedding_type: info.embeddingType,
    },
    runtime: { deno: Deno.version.deno, v8: Deno.version.v8, os: Deno.build.os, arch: Deno.build.arch },
    reps,
    results,
    load_ms: loadMs,
  };
  const row = markdownRow(record);
  await writeJsonAtomic(`${f.out}.json`, record);
  const tmp = `${f.out}.md.tmp`;
  await Deno.writeTextFile(tmp, row + "\n");
  await Deno.rename(tmp, `${f.out}.md`);
  if (f.doc) {
    const next = upsertRow(await Deno.readTextFile(f.doc), row);
    await Deno.writeTextFile(`${f.doc}.tmp`, next);
    await Deno.rename(`${f.doc}.tmp`, f.doc);
  }
  console.log(row);
  console.error(`wrote ${f.out}.json and ${f.out}.md${f.doc ? `, updated ${f.doc}` : ""}`);
  return 0;
}

/** Whether the adapter fuses WGSL fma (the device's own probe). */
async function fusedFma(): Promise<boolean> {
  const { WebGpuDevice } = await import("../engine/backends/webgpu/device.ts");
  await using dev = await WebGpuDevice.open();
  return dev.probe.fusedFma;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
