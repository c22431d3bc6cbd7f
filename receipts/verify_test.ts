/**
 * Receipts against their schema and against their own numbers: a fresh parity receipt verifies; every kind of
 * hand edit that makes the verdict not follow from the records is rejected, naming the violation. Needs the
 * llama.cpp library (the receipts come from real runs on a tiny generated model).
 */
import assert from "node:assert/strict";
import { DEFAULT_PROMPTS, runParityOnModel } from "../parity/mod.ts";
import type { ParityReceipt } from "./parity_receipt.ts";
import { verifyReceipt } from "./verify.ts";
import { fixtureModel } from "../engine/synth/_testing.ts";

const PROMPTS = [DEFAULT_PROMPTS[0], DEFAULT_PROMPTS[5]];
const passing: Promise<ParityReceipt> =
  (async () => runParityOnModel(await fixtureModel({ layers: 4 }), { prompts: PROMPTS, steps: 6 }))();
const failing: Promise<ParityReceipt> = (async () =>
  runParityOnModel(await fixtureModel({ layers: 4 }), {
    prompts: PROMPTS,
    steps: 6,
    faults: { swapActivation: 2 },
  }))();

/** A deep, mutable copy as it would be read back from disk. */
// deno-lint-ignore no-explicit-any
async function copy(p: Promise<ParityReceipt>): Promise<any> {
  return JSON.parse(JSON.stringify(await p));
}
const codes = (json: unknown) => verifyReceipt(json).map((p) => p.code);

Deno.test("a fresh passing receipt validates against receipts/parity.schema.json and its own numbers", async () => {
  const r = await copy(passing);
  assert.equal(r.status, "pass");
  assert.deepEqual(verifyReceipt(r), []);
});

Deno.test("receipts of the earlier minor versions still verify; a CPU backend's receipt names no device", async () => {
  const r = await copy(passing);
  assert.equal(r.schema_version, "1.2.0");
  assert.equal("device" in r.engine, false);
  for (const v of ["1.0.0", "1.1.0"]) assert.deepEqual(verifyReceipt({ ...r, schema_version: v }), [], v);
  assert.deepEqual(codes({ ...r, engine: { ...r.engine, device: "" } }), ["schema"]);
});

Deno.test("a fresh failing receipt is consistent (its only problem: it was made with injected faults)", async () => {
  const r = await copy(failing);
  assert.equal(r.status, "fail");
  assert.deepEqual(codes(r), ["engine_faults"]);
});

Deno.test("schema violations are reported with their JSON location", async () => {
  const r = await copy(passing);
  r.extra_field = 1;
  r.model_sha256 = "abc";
  r.schema_version = "2.0.0";
  r.checks.logits.rows[0].cosine = "high";
  delete r.metrics.compared_tokens;
  const problems = verifyReceipt(r);
  assert.ok(problems.every((p) => p.code === "schema"));
  const paths = problems.map((p) => p.path);
  for (const path of ["", "/model_sha256", "/schema_version", "/checks/logits/rows/0/cosine", "/metrics"]) {
    assert.ok(paths.includes(path), `${path} in ${paths.join(" ")}`);
  }
});

Deno.test("a failing receipt laundered into a pass (status, check statuses, reasons, faults edited) is rejected", async () => {
  const r = await copy(failing);
  r.status = "pass";
  r.reasons = [];
  for (const c of ["tokenization", "logits", "greedy", "localization"]) r.checks[c].status = "pass";
  r.engine.faults = {};
  const c = codes(r);
  assert.ok(c.includes("status_mismatch"), c.join());
  const p = verifyReceipt(r).find((x) => x.path === "/checks/logits/status")!;
  assert.match(p.message, /logits is "pass" but its records say "fail"/);
});

Deno.test("editing a headline metric, a row, or a tie flag is caught", async () => {
  const m = await copy(passing);
  // A value no run records (a bit-exact engine already has a mean KLD of 0, so 0 would not be an edit).
  m.metrics.kld_mean = 1;
  assert.deepEqual(codes(m), ["metric_mismatch"]);

  const row = await copy(passing);
  row.checks.logits.rows[1].kld = 0.5;
  const c = codes(row);
  assert.ok(c.includes("summary_mismatch") && c.includes("status_mismatch"), c.join());

  const f = await copy(failing);
  const g = f.checks.greedy.prompts.find((p: { divergences: unknown[] }) => p.divergences.length);
  assert.ok(g, "the faulty run diverges in greedy decoding");
  g.divergences[0].tie = !g.divergences[0].tie;
  assert.ok(codes(f).includes("tie_mismatch"));
});

Deno.test("dropping positions or all rows is caught; zero compared tokens is never valid", async () => {
  const some = await copy(passing);
  some.checks.logits.rows.splice(2, 1);
  assert.ok(codes(some).includes("rows_incomplete"));

  const none = await copy(passing);
  none.checks.logits.rows = [];
  none.checks.logits.summary = null;
  none.metrics.compared_tokens = 0;
  const c = codes(none);
  assert.ok(c.includes("zero_compared_tokens") && c.includes("status_mismatch"), c.join());
});

Deno.test("thresholds looser than the gates are rejected", async () => {
  const r = await copy(passing);
  r.thresholds.cosine_min = 0.5;
  r.thresholds.localization.dense_fraction = 0.99;
  const p = verifyReceipt(r).filter((x) => x.code === "thresholds_loosened").map((x) => x.path);
  assert.deepEqual(p.sort(), ["/thresholds/cosine_min", "/thresholds/localization/dense_fraction"]);
});

Deno.test("honest compute: kernels must be real, the reference must have run in parity mode", async () => {
  const empty = await copy(passing);
  empty.engine.kernels = [];
  assert.deepEqual(codes(empty), ["kernels_empty"]);

  const fake = await copy(passing);
  fake.engine.kernels = [...fake.engine.kernels, "wasm.gemm.stub"];
  assert.ok(codes(fake).includes("kernel_fake"));

  const noMatmul = await copy(passing);
  noMatmul.engine.kernels = noMatmul.engine.kernels.filter((k: string) => !/\.gemm/.test(k));
  assert.ok(codes(noMatmul).includes("kernels_no_matmul"));

  const other = await copy(passing);
  other.engine.kernels = [...other.engine.kernels, "ref.gemm.tq2_0_q8_k"];
  assert.ok(codes(other).includes("kernel_backend"));

  const noRef = await copy(passing);
  noRef.reference.ran = false;
  const c = codes(noRef);
  assert.ok(c.includes("reference_not_run") && c.includes("status_mismatch"), c.join());

  const f16 = await copy(passing);
  f16.reference.settings.type_k = "f16";
  assert.deepEqual(codes(f16), ["reference_settings"]);

  const hash = await copy(passing);
  hash.model_sha256 = "0".repeat(64);
  assert.deepEqual(codes(hash), ["hash_mismatch"]);
});

Deno.test("verifyReceipt() dispatches on kind: unknown or missing kinds are problems", () => {
  assert.deepEqual(codes({ kind: "bench-of-the-future" }), ["unknown_kind"]);
  assert.deepEqual(codes({ schema_version: "1.0.0" }), ["missing_kind"]);
  assert.deepEqual(codes([1, 2]), ["not_an_object"]);
});
