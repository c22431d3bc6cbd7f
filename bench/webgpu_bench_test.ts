import { equal, match, throws } from "node:assert/strict";
import { markdownRow, upsertRow, type WebGpuBenchRecord } from "./webgpu_bench.ts";

const record = (label: string, tg: number): WebGpuBenchRecord => ({
  kind: "webgpu-bench",
  timestamp: "2026-12-07T10:00:00.000Z",
  adapter: {
    available: true,
    vendor: "v",
    architecture: "",
    device: "0",
    description: label,
    isFallbackAdapter: false,
    label,
    wgslFeatures: [],
  },
  device: `WebGPU ${label}`,
  fused_fma: true,
  model: { name: "bench-2b4t-tq2", path: "/m.gguf", bytes: 1, weight_type: "TQ2_0", embedding_type: "F16" },
  runtime: { deno: "2.9.6", v8: "x", os: "linux", arch: "x86_64" },
  reps: 3,
  results: [
    { test: "pp128", backend: "webgpu", samples_ts: [900], median_ts: 900 },
    { test: "tg32", backend: "webgpu", samples_ts: [tg], median_ts: tg },
  ],
  load_ms: 1,
});

Deno.test("markdownRow() names the adapter, the model and each test's median", () => {
  const row = markdownRow(record("NVIDIA H100", 61.234));
  match(
    row,
    /^\| 2026-12-07 \| NVIDIA H100 \| bench-2b4t-tq2 \(TQ2_0\) \| pp128 900, tg32 61\.23 \| - \| Deno 2\.9\.6, fma native \|$/,
  );
});

Deno.test("upsertRow() replaces the row of the same adapter and model, keeps the others", () => {
  const doc = "x\n<!-- webgpu-bench:begin -->\n| date | adapter |\n| --- | --- |\n<!-- webgpu-bench:end -->\ny\n";
  const a = upsertRow(doc, markdownRow(record("GPU A", 10)));
  const b = upsertRow(upsertRow(a, markdownRow(record("GPU B", 20))), markdownRow(record("GPU A", 30)));
  equal(b.match(/GPU A/g)?.length, 1);
  match(b, /GPU B .* tg32 20\.00/);
  match(b, /GPU A .* tg32 30\.00/);
  match(b, /^x\n<!-- webgpu-bench:begin -->\n\| date \| adapter \|/);
  throws(() => upsertRow("no markers", "| 2026 |"), /no "<!-- webgpu-bench:begin -->"/);
});
