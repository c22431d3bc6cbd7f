/**
 * Op-by-op localization on hand-built captures: a dense error at one op is found there, sparse rounding-like
 * noise and its downstream spread are not blamed on later ops, attention's causal inputs are respected, and a
 * skipped step is reported as missing.
 */
import assert from "node:assert/strict";
import { DEFAULT_THRESHOLDS as T } from "../receipts/parity_gates.ts";
import { graphOrder, inputsOf, LocalizationAccumulator, rowNmse } from "./localize.ts";
import type { NamedTensor } from "./subject.ts";

const ROWS = 16, COLS = 8, LAYERS = 2;

/** Deterministic reference captures for every name of a 2-layer graph. */
function reference(): Map<string, NamedTensor> {
  const m = new Map<string, NamedTensor>();
  graphOrder(LAYERS).forEach((name, k) => {
    if (name.includes("_s-")) return; // no per-tensor scales in this model
    const data = Float32Array.from({ length: ROWS * COLS }, (_, i) => 1 + Math.sin(k * 3.7 + i * 0.91));
    m.set(name, { rows: ROWS, cols: COLS, data });
  });
  return m;
}

/** A copy of `ref` where `names` get `rows` perturbed by a relative `amount`. */
function perturbed(ref: Map<string, NamedTensor>, names: string[], rows: number[], amount: number) {
  const m = new Map<string, NamedTensor>();
  for (const [name, t] of ref) {
    const data = t.data.slice();
    if (names.includes(name)) { for (const r of rows) for (let c = 0; c < COLS; c++) data[r * COLS + c] *= 1 + amount; }
    m.set(name, { ...t, data });
  }
  return m;
}

function judge(engine: Map<string, NamedTensor>, ref = reference()) {
  const acc = new LocalizationAccumulator();
  acc.add({ engine, reference: ref });
  return acc.result({ nLayer: LAYERS, thresholds: T, prompt: 0, reason: "test" });
}

/** Names at and after `from` in graph order (an error propagates downstream). */
const downstream = (from: string) => graphOrder(LAYERS).slice(graphOrder(LAYERS).indexOf(from));

Deno.test("a dense error introduced by one op is localized to that op, not to what follows", () => {
  const ref = reference();
  const r = judge(perturbed(ref, downstream("ffn_down-1"), [...Array(ROWS).keys()], 1e-2), ref);
  assert.equal(r.status, "fail");
  assert.equal(r.first_exceedance?.name, "ffn_down-1");
  assert.equal(r.first_exceedance?.layer, 1);
  // Ops after it had no clean-input rows: undetermined, not blamed.
  assert.equal(r.tensors.find((t) => t.name === "l_out-1")?.status, "undetermined");
});

Deno.test("sparse errors (a few rows, like Q8_K rounding flips) and their spread do not fail any op", () => {
  const ref = reference();
  const r = judge(perturbed(ref, downstream("attn_out-0"), [3], 1e-3), ref);
  assert.equal(r.status, "pass", JSON.stringify(r.first_exceedance));
  const attnOut = r.tensors.find((t) => t.name === "attn_out-0")!;
  assert.equal(attnOut.new_error_rows, 1);
  assert.equal(attnOut.clean_rows, ROWS);
});

Deno.test("attention reads K and V of all earlier rows: a bad early K row makes later rows unclean", () => {
  const ref = reference();
  // Kcur-1 row 0 differs, and kqv_out-1 differs in every row from there on (as attention spreads it).
  const eng = perturbed(ref, ["Kcur-1"], [0], 1e-2);
  const spread = perturbed(eng, downstream("kqv_out-1"), [...Array(ROWS).keys()], 1e-2);
  const r = judge(spread, ref);
  const kqv = r.tensors.find((t) => t.name === "kqv_out-1")!;
  assert.equal(kqv.clean_rows, 0);
  assert.equal(kqv.status, "undetermined");
  assert.deepEqual(inputsOf("kqv_out-1", () => true), { rowLocal: ["Qcur-1"], causal: ["Kcur-1", "Vcur-1"] });
});

Deno.test("a step the engine skips (e.g. attn_sub_norm) is reported as missing at that step", () => {
  const ref = reference();
  const eng = perturbed(ref, downstream("attn_out-1"), [...Array(ROWS).keys()], 1e-2);
  eng.delete("attn_sub_norm-1");
  const r = judge(eng, ref);
  assert.equal(r.first_exceedance?.name, "attn_sub_norm-1");
  assert.equal(r.first_exceedance?.status, "missing_in_engine");
});

Deno.test("rowNmse() computes one NMSE per row", () => {
  const out = rowNmse(Float32Array.of(1, 1, 2, 2), Float32Array.of(1, 1, 2, 3), 2);
  assert.deepEqual(Array.from(out), [0, 1 / 8]);
});
