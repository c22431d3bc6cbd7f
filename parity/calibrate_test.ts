import assert from "node:assert/strict";
import { calibrate } from "./calibrate.ts";

Deno.test("calibrate() runs the models, prompts and steps it is given, with the faults injected into the first", async () => {
  const prompts = [{ text: "Once upon a time", parseSpecial: false }];
  const records: Record<string, unknown>[] = [];
  const out = await calibrate({ models: [{ layers: 2 }], prompts, steps: 3, onRecord: (r) => records.push(r) });
  assert.deepEqual(out, records);
  assert.equal(out.length, 1);
  assert.deepEqual(out[0].model, { layers: 2 });
  assert.equal(out[0].status, "pass");
  assert.equal(out[0].faults, null);
  const faulted = await calibrate({ models: [{ layers: 4, seed: 5 }], prompts, steps: 1, faults: true });
  assert.ok(faulted.length > 1);
  assert.ok(faulted.every((r) => JSON.stringify(r.model) === '{"layers":4,"seed":5}' && r.faults !== null));
  assert.ok(faulted.some((r) => r.status === "fail"), "an injected fault is caught");
});

Deno.test("calibrate() against ik_llama.cpp records each op's largest clean-row NMSE with --measure", async () => {
  const prompts = [{ text: "Once upon a time", parseSpecial: false }];
  const [r] = await calibrate({
    ikFormat: "f32",
    measure: true,
    models: [{ arch: "bitnet-b1.58", type: "i2_s", layers: 1 }],
    prompts,
    steps: 2,
  });
  assert.equal(r.reference, "ik_llama.cpp");
  assert.equal(r.activations, "float");
  assert.equal(r.thresholds, "parity-gates/ik_llama-f32-float/1+measure");
  const clean = r.loc_clean_max as Record<string, number>;
  // Every op of the layer was measured, each far below the F32 gates' tolerance (docs/parity.md).
  for (const kind of ["attn_norm", "Qcur", "kqv_out", "ffn_sub_out", "ffn_down", "l_out", "result_output"]) {
    assert.ok(clean[kind] >= 0 && clean[kind] < 1e-4, `${kind}: ${clean[kind]}`);
  }
});
