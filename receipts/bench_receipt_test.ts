/**
 * Bench receipts from a real run (our engine and llama.cpp on a generated tiny model) pass `verifyReceipt`; the
 * same receipt with one thing fabricated fails it, for exactly the stated reason (the problem codes are compared
 * as a set, so a tampered receipt cannot fail for some unrelated reason and still pass this test).
 *
 * @module
 */

import assert from "node:assert/strict";
import { fixtureModel } from "../engine/synth/_testing.ts";
import { benchModelFile } from "../bench/bench_model.ts";
import { mean, median, sampleStddev, summarize } from "./stats.ts";
import { verifyReceipt } from "./verify.ts";
import type { BenchReceipt } from "./bench_receipt.ts";
import { maxPlausibleTokensPerSecond } from "./verify_bench.ts";
import { llamaSourceDir } from "../ffi/mod.ts";

// One real run shared by every case: threads 1 (CI machines are shared), few repetitions, short tests.
const path = await fixtureModel();
const real: BenchReceipt = await benchModelFile(path, { threads: 1, tests: ["pp32", "tg8"], reps: 5, warmup: 1 });

/** A receipt as plain JSON, free to tamper with. */
// deno-lint-ignore no-explicit-any
type Tampered = { [k: string]: any };
// Through JSON, as a receipt read from a file (no shared arrays between fields).
const clone = (): Tampered => JSON.parse(JSON.stringify(real));
const codes = (r: unknown) => [...new Set(verifyReceipt(r).map((p) => p.code))].sort();

Deno.test("a receipt from a real run passes receipt verification", () => {
  assert.deepEqual(verifyReceipt(JSON.parse(JSON.stringify(real))), []);
  assert.equal(real.compute_path, "real");
  assert.ok(real.kernels.some((k) => /^wasm\.(fast\.)?gemm\./.test(k)), `kernels: ${real.kernels.join(", ")}`);
  assert.equal(real.numerics, "fast"); // the engine's default
  assert.equal(real.engine.numerics, "fast");
  assert.match(real.model_sha256, /^[0-9a-f]{64}$/);
  for (const res of real.results) {
    assert.equal(res.engine!.samples_ts.length, 5);
    assert.equal(res.reference!.samples_ts.length, 5);
    assert.equal(res.ratio!.samples.length, 5);
  }
});

Deno.test("a hand-set tokens_per_second fails as headline_inconsistent", () => {
  const r = clone();
  r.tokens_per_second = r.tokens_per_second * 3;
  assert.deepEqual(codes(r), ["headline_inconsistent"]);
});

Deno.test("a hand-set avg_ts fails as avg_ts_inconsistent", () => {
  const r = clone();
  r.results[0].engine.avg_ts *= 3;
  assert.deepEqual(codes(r), ["avg_ts_inconsistent"]);
});

Deno.test("an empty kernel list fails as kernels_empty", () => {
  const r = clone();
  r.kernels = [];
  r.engine.kernels = [];
  assert.deepEqual(codes(r), ["kernels_empty"]);
});

Deno.test("a mock kernel id fails as kernel_fake", () => {
  const r = clone();
  r.kernels.push("wasm.mock_gemm");
  r.engine.kernels.push("wasm.mock_gemm");
  assert.deepEqual(codes(r), ["kernel_fake"]);
});

Deno.test("samples that do not give the reported mean fail as samples_ts_inconsistent and avg_ts_inconsistent", () => {
  const r = clone();
  const rec = r.results[1].engine;
  rec.samples_ts[0] *= 10;
  const found = codes(r);
  for (const c of ["samples_ts_inconsistent", "avg_ts_inconsistent"]) {
    assert.ok(found.includes(c), `${c} missing from ${found}`);
  }
});

/** Make one side `factor` times faster with every derived field recomputed: only the physical bound can object. */
function consistentlyFaster(r: Tampered, factor: number): void {
  for (const res of r.results as Tampered[]) {
    const e = res.engine;
    const tokens = res.n_prompt + res.n_gen;
    e.samples_ns = e.samples_ns.map((ns: number) => Math.max(1, Math.round(ns / factor)));
    e.samples_ts = e.samples_ns.map((ns: number) => (1e9 * tokens) / ns);
    e.samples_latency_ms = e.samples_ns.map((ns: number) => ns / 1e6 / (res.n_gen || 1));
    e.avg_ns = Math.round(mean(e.samples_ns));
    e.stddev_ns = Math.round(sampleStddev(e.samples_ns));
    e.avg_ts = mean(e.samples_ts);
    e.stddev_ts = sampleStddev(e.samples_ts);
    e.stats_ts = summarize(e.samples_ts);
    e.latency_ms = summarize(e.samples_latency_ms);
    const ratio = res.ratio;
    ratio.samples = e.samples_ts.map((x: number, i: number) => x / res.reference.samples_ts[i]);
    ratio.median = median(ratio.samples);
    ratio.low = Math.min(...ratio.samples);
    ratio.high = Math.max(...ratio.samples);
  }
  const head = r.results.find((x: Tampered) => x.test === r.headline_test).engine;
  r.tokens_per_second = head.stats_ts.median;
  r.latency_ms = head.latency_ms.median;
}

Deno.test("consistent but physically impossible rates fail as implausible_rate", () => {
  const r = clone();
  // Enough to cross the bound for this model and machine, whatever the measured speed was.
  const fastest = Math.max(...r.results.flatMap((x: Tampered) => x.engine.samples_ts));
  const bound = maxPlausibleTokensPerSecond(r.model, { cores: r.machine.cores, nGen: 0 });
  consistentlyFaster(r, (10 * bound) / fastest);
  assert.deepEqual(codes(r), ["implausible_rate"]);
  // The same rewrite by a factor that stays below the bound is not detectable by the receipt alone.
  const s = clone();
  consistentlyFaster(s, 1.5);
  assert.deepEqual(codes(s), []);
});

Deno.test("compute_path mock fails as compute_path", () => {
  const r = clone();
  r.compute_path = "mock";
  assert.deepEqual(codes(r), ["compute_path"]);
});

Deno.test("a receipt whose reference did not run fails: a missing reference is never a match", () => {
  const r = clone();
  r.reference.ran = false;
  r.reference.error = "llama.cpp library not found";
  for (const res of r.results) {
    res.reference = null;
    res.ratio = null;
  }
  assert.deepEqual(codes(r), ["reference_not_run", "reference_record_missing"]);
});

Deno.test("test-only faults, a bad model hash and a wrong sample count are each caught", () => {
  const f = clone();
  f.engine.faults = { delay: "busy-wait per decode" };
  assert.deepEqual(codes(f), ["engine_faults"]);
  const h = clone();
  h.model_sha256 = "not-a-hash";
  assert.deepEqual(codes(h), ["schema"]);
  const n = clone();
  const e = n.results[0].engine;
  e.samples_ns.pop();
  e.samples_ts.pop();
  e.samples_latency_ms.pop();
  assert.deepEqual(codes(n), ["ratio_inconsistent", "sample_count"]);
});

Deno.test("the physical bound is the compute bound, and the memory bound for generation with uncacheable weights", () => {
  // 2B4T's shape on two cores: ops per token >= n_params - n_vocab * n_embd.
  const model = { n_params: 2_400_000_000, n_vocab: 128256, n_embd: 2560, size_bytes: 1_200_000_000 };
  const compute = (2 * 6.5e9 * 4096) / (2_400_000_000 - 128256 * 2560);
  assert.equal(maxPlausibleTokensPerSecond(model, { cores: 2, nGen: 0 }), compute);
  assert.equal(maxPlausibleTokensPerSecond(model, { cores: 2, nGen: 128 }), compute, "1.2 GB could sit in a cache");
  // 8 GiB of weights: 4 GiB cannot be cached and must stream at <= 2 TB/s for every generated token.
  const huge = { ...model, size_bytes: 8 * 2 ** 30 };
  assert.equal(maxPlausibleTokensPerSecond(huge, { cores: 2, nGen: 128 }), Math.min(compute, 2e12 / (4 * 2 ** 30)));
  assert.equal(
    maxPlausibleTokensPerSecond(huge, { cores: 2, nGen: 0 }),
    compute,
    "prompt processing reuses weights across tokens",
  );
});

Deno.test("each record has every key the pinned compare-llama-bench.py requires, and no unknown field", async () => {
  // The script's own lists (llama.cpp v0.5.0, scripts/compare-llama-bench.py): it rejects a JSON record without
  // one of LLAMA_BENCH_KEY_PROPERTIES + build_commit, test_time, avg_ts, and drops keys outside its DB fields.
  const script = await Deno.readTextFile(`${await llamaSourceDir()}/scripts/compare-llama-bench.py`);
  const list = (name: string) => {
    const m = new RegExp(`^${name} = \\[([^\\]]*)\\]`, "m").exec(script);
    assert.ok(m, `${name} not found in compare-llama-bench.py`);
    return [...m[1].matchAll(/"([a-z0-9_]+)"/g)].map((x) => x[1]);
  };
  const required = [...list("LLAMA_BENCH_KEY_PROPERTIES"), "build_commit", "test_time", "avg_ts"];
  const known = new Set([
    ...list("LLAMA_BENCH_DB_FIELDS"),
    // llama-bench's JSON output has these beyond the script's table.
    "devices",
    "lazy_mode",
    "no_host",
    "samples_ns",
    "samples_ts",
    // Ours, documented in receipts/bench_receipt.ts.
    "stats_ts",
    "samples_latency_ms",
    "latency_ms",
  ]);
  assert.ok(required.length > 20, `only ${required.length} required keys parsed`);
  for (const res of real.results) {
    for (const rec of [res.engine!, res.reference!]) {
      const keys = Object.keys(rec);
      assert.deepEqual(required.filter((k) => !keys.includes(k)), [], "missing keys");
      assert.deepEqual(keys.filter((k) => !known.has(k)), [], "unknown keys");
    }
  }
});

Deno.test("the pinned compare-llama-bench.py loads the records and pairs them across two builds", async () => {
  // The script needs GitPython (commit names) and tabulate (printing), not installable here; both are replaced by
  // stand-ins so that its own JSON loader, key checks and SQL pairing run on our records unchanged. The second
  // "build" is the same records under another commit, so every test must pair with a speedup of exactly 1.
  const script = `${await llamaSourceDir()}/scripts/compare-llama-bench.py`;
  const dir = await Deno.makeTempDir({ prefix: "crossval-compare-llama-bench-" });
  try {
    const records = real.results.flatMap((r) => [r.engine!, r.reference!]);
    const other = records.map((r) => ({ ...r, build_commit: "f".repeat(8) + r.build_commit.slice(8) }));
    await Deno.writeTextFile(`${dir}/a.json`, JSON.stringify(records));
    await Deno.writeTextFile(`${dir}/b.json`, JSON.stringify(other));
    const py = `
import importlib.util, json, sys, types
git = types.ModuleType("git")
class InvalidGitRepositoryError(Exception): pass
class Repo:
    def __init__(self, *a, **k): raise InvalidGitRepositoryError("no repository")
git.Repo, git.Commit, git.InvalidGitRepositoryError = Repo, object, InvalidGitRepositoryError
sys.modules["git"] = git
tab = types.ModuleType("tabulate")
tab.tabulate = lambda rows, headers=None, **k: json.dumps([headers] + [list(r) for r in rows])
sys.modules["tabulate"] = tab
script, a, b, base = sys.argv[1:5]
sys.argv = ["compare-llama-bench.py", "-t", "llama-bench", "-i", a, "-i", b, "-b", base, "-c", "ffffffff" + base[8:]]
spec = importlib.util.spec_from_file_location("clb", script)
spec.loader.exec_module(importlib.util.module_from_spec(spec))
`;
    for (const build of [real.commit, real.results[0].reference!.build_commit]) {
      const out = await new Deno.Command("python3", {
        args: ["-c", py, script, `${dir}/a.json`, `${dir}/b.json`, build],
        stdout: "piped",
        stderr: "piped",
      }).output().catch((e) => {
        throw new Error(
          `Cannot run python3 (needed to run llama.cpp's compare-llama-bench.py): ${e}. Install python3.`,
        );
      });
      const stdout = new TextDecoder().decode(out.stdout), stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      const table = JSON.parse(stdout.trim().split("\n").at(-1)!) as unknown[][];
      assert.deepEqual(table.slice(1).map((row) => [row[2], row.at(-1)]), [["pp32", 1], ["tg8", 1]], stdout);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
