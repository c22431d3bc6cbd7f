/**
 * `crossval bench` and `crossval baselines` end to end, as a user runs them: a real benchmark of a generated tiny
 * model writes a receipt that `crossval receipt verify` accepts; the table has llama-bench's shape; fabricated
 * receipts cannot become a baseline; a bitnet-b1.58 model is measured against its own reference (ik_llama.cpp); usage
 * and environment mistakes exit 2 with the fix.
 *
 * @module
 */

import assert from "node:assert/strict";
import { crossval } from "../cli/_testing.ts";
import { renderBenchTable } from "../cli/bench.ts";
import { fixtureModel } from "./_fixtures.ts";

const cli = (...args: string[]) => crossval(args);

const model = await fixtureModel();
const dir = await Deno.makeTempDir({ prefix: "crossval-bench-cli-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const small = ["--threads", "1", "--pp", "16", "--tg", "4", "--reps", "3", "--warmup", "1"];

Deno.test("crossval bench --json writes a receipt that crossval receipt verify accepts", async () => {
  const r = await cli("bench", "--model", model, ...small, "--out-dir", `${dir}/a`, "--json");
  assert.equal(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout);
  const name = model.slice(model.lastIndexOf("/") + 1).replace(/\.gguf$/, "");
  const file = `${dir}/a/bench_${name}.json`;
  assert.deepEqual(JSON.parse(await Deno.readTextFile(file)), printed);
  assert.deepEqual(printed.settings.tests, ["pp16", "tg4"]);
  assert.equal(printed.settings.threads, 1);
  const v = await cli("receipt", "verify", file);
  assert.equal(v.code, 0, v.stdout + v.stderr);

  // The read-rate column: a share of the DRAM roofline, unless a token's bytes fit the last-level cache.
  assert.ok(printed.roofline, "the run measured the roofline");
  const tg = (t: string) => t.split("\n").find((l) => l.includes(" tg4 "))!;
  const dram = renderBenchTable([printed], { lastLevelCacheBytes: 1024 });
  assert.match(tg(dram), /\d+\.\d \(\d+%\), \d+\.\d \(\d+%\)/);
  assert.doesNotMatch(dram, /in cache/);
  const cached = renderBenchTable([printed], { lastLevelCacheBytes: 2 ** 30 });
  assert.match(tg(cached), /\d+\.\d, \d+\.\d in cache/);
  assert.doesNotMatch(tg(cached), /%/);
  assert.match(cached, /"in cache": a token reads less than the 1(\.0+)? GiB last-level cache/);
  assert.match(tg(renderBenchTable([printed], { lastLevelCacheBytes: null })), /\(\d+%\)/);
});

Deno.test("crossval bench prints a llama-bench-style table for both engines and names the machine", async () => {
  const r = await cli("bench", "--model", model, ...small, "--out-dir", `${dir}/b`);
  assert.equal(r.code, 0, r.stderr);
  for (const h of ["test", "engine t/s", "llama.cpp t/s", "median", "engine/llama.cpp", "pp16", "tg4"]) {
    assert.ok(r.stdout.includes(h), `missing "${h}":\n${r.stdout}`);
  }
  assert.match(r.stdout, /\d+(\.\d+)? ± \d+(\.\d+)?/);
  assert.match(r.stdout, /machine: .+ cores, .+fingerprint [0-9a-f]+/);
});

Deno.test("crossval bench measures a bitnet-b1.58 model against ik_llama.cpp by default; llama.cpp refuses it", async () => {
  const b158 = await fixtureModel({ arch: "bitnet-b1.58", type: "i2_s", layers: 2 });
  const r = await cli("bench", "--model", b158, ...small, "--out-dir", `${dir}/ik`, "--json");
  assert.equal(r.code, 0, r.stderr);
  const receipt = JSON.parse(r.stdout);
  assert.equal(receipt.reference.ran, true);
  assert.equal(receipt.reference.library, "ik_llama.cpp");
  assert.deepEqual(receipt.reference.selection, { flag: "ik_llama", by: "architecture" });
  assert.equal(receipt.reference.input.transcode.verified.equal, true);
  assert.deepEqual(receipt.reference.kernels, ["ik_llama.cpp"]);
  const name = b158.slice(b158.lastIndexOf("/") + 1).replace(/\.gguf$/, "");
  const v = await cli("receipt", "verify", `${dir}/ik/bench_${name}.json`);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  const refused = await cli("bench", "--model", b158, ...small, "--reference", "llama.cpp", "--out-dir", `${dir}/no`);
  assert.equal(refused.code, 2, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /has no bitnet-b1\.58 architecture.*Fix: --reference ik_llama/);
});

Deno.test("crossval baselines gen refuses a fabricated receipt, naming the violation", async () => {
  const r = await cli("bench", "--model", model, ...small, "--out-dir", `${dir}/c`, "--json");
  assert.equal(r.code, 0, r.stderr);
  const receipt = JSON.parse(r.stdout);
  receipt.tokens_per_second *= 2;
  await Deno.writeTextFile(`${dir}/c/bench_${receipt.name}.json`, JSON.stringify(receipt));
  const g = await cli("baselines", "gen", "--receipts", `${dir}/c`, "--out", `${dir}/c-out`);
  assert.equal(g.code, 1);
  assert.match(g.stderr, /fails verification \(headline_inconsistent/);
  const v = await cli("receipt", "verify", `${dir}/c/bench_${receipt.name}.json`);
  assert.equal(v.code, 1);
  assert.match(v.stdout, /headline_inconsistent/);
});

Deno.test("usage and environment mistakes exit 2 with the fix", async () => {
  const none = await cli("bench", "--model", model, "--pp", "0", "--tg", "0");
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Nothing to measure/);
  const both = await cli("bench", "--model", model, "--tier", "ci");
  assert.equal(both.code, 2);
  const missing = await cli("bench", "--model", `${dir}/nowhere/x.gguf`);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /Cannot find model/);
  const noReceipts = await cli("baselines", "verify", "--baseline", `${dir}/none.json`, "--receipts", `${dir}/empty`);
  assert.equal(noReceipts.code, 2);
  assert.match(noReceipts.stderr, /crossval bench && crossval baselines gen/);
  await Deno.writeTextFile(`${dir}/bad-baseline.json`, JSON.stringify({ kind: "baseline" }));
  const bad = await cli("baselines", "verify", "--baseline", `${dir}/bad-baseline.json`, "--receipts", `${dir}/a`);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /is not valid/);
});
