/**
 * Parity against llama.cpp on generated `bitnet` models: the CI shape (4 layers, GQA 4/2), full multi-head and
 * 8/2-head attention, TQ1_0 and TQ2_0 weights, every embedding type, per-tensor scales. Each receipt must pass
 * and verify; and the ways the reference can fail to run (library missing, model rejected, time budget spent)
 * must give `not_run`, never a pass. Needs the llama.cpp library and FFI (`deno test -A`, or `--allow-ffi` with the other permissions).
 */
import assert from "node:assert/strict";
import { runParityOnModel } from "../parity/mod.ts";
import { verifyReceipt } from "../receipts/verify.ts";
import type { SynthSpec } from "../engine/synth/mod.ts";
import { fixtureModel } from "./_fixtures.ts";

const MODELS: Partial<SynthSpec>[] = [
  { layers: 4 },
  { layers: 4, type: "tq1_0" },
  { layers: 4, heads: 4, headsKv: 4 },
  { layers: 4, heads: 8, headsKv: 2 },
  { layers: 4, embedType: "bf16" },
  { layers: 4, embedType: "q8_0" },
  { layers: 4, embedType: "q6_k" },
  { layers: 4, scales: true },
];

for (const spec of MODELS) {
  Deno.test(`parity passes and its receipt verifies on a generated model ${JSON.stringify(spec)}`, async () => {
    const r = await runParityOnModel(await fixtureModel(spec), { steps: 16 });
    assert.equal(r.status, "pass", r.reasons.map((x) => x.message).join("\n"));
    assert.deepEqual(verifyReceipt(JSON.parse(JSON.stringify(r))), []);
    // Every position of every prompt was compared, every greedy step, every layer's intermediates.
    assert.equal(r.metrics.compared_tokens, r.prompts.reduce((n, p) => n + p.n_tokens, 0));
    assert.equal(r.metrics.greedy_steps_compared, 16 * r.prompts.length);
    assert.ok(r.checks.localization.tensors.some((t) => t.name === `l_out-${(spec.layers ?? 4) - 1}`));
    assert.equal(r.checks.localization.not_compared.length, 0, r.checks.localization.not_compared.join());
    assert.ok(r.engine.kernels.some((k) => k.includes(".gemm.")), r.engine.kernels.join());
    assert.equal(r.reference.settings?.type_k, "f32");
    assert.equal(r.reference.settings?.flash_attn, "disabled");
  });
}

Deno.test("a model llama.cpp cannot compute (I2_S weights) gives not_run, never pass, and names the conversion", async () => {
  const r = await runParityOnModel(await fixtureModel({ layers: 2, type: "i2_s" }), { steps: 2 });
  assert.equal(r.status, "not_run");
  assert.equal(r.reference.ran, false);
  // Refused by the guard before llama.cpp sees it (its own error, "not a multiple of block size", says nothing useful).
  assert.equal(r.reference.error?.kind, "unsupported");
  assert.equal(r.reasons[0].code, "reference_unsupported");
  assert.match(r.reasons[0].message, /I2_S \(type 36\).*Fix: crossval convert \S+ --to tq2_0 --out \S+-tq2_0\.gguf/s);
  assert.equal(r.metrics.compared_tokens, 0);
  const codes = verifyReceipt(JSON.parse(JSON.stringify(r))).map((p) => p.code);
  assert.ok(codes.includes("reference_not_run") && codes.includes("zero_compared_tokens"), codes.join());
});

Deno.test("a missing llama.cpp library gives not_run with the fix in the reason", async () => {
  const empty = await Deno.makeTempDir();
  try {
    const r = await runParityOnModel(await fixtureModel({ layers: 2 }), { steps: 2, cppDir: empty });
    assert.equal(r.status, "not_run");
    assert.equal(r.reference.error?.kind, "library_missing");
    assert.match(r.reasons[0].message, /BITNET_CPP_DIR/);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("a reference that exceeds its time budget gives not_run (reference_timeout)", async () => {
  const r = await runParityOnModel(await fixtureModel({ layers: 2 }), { steps: 2, referenceTimeoutMs: 1e-6 });
  assert.equal(r.status, "not_run");
  assert.equal(r.reference.error?.kind, "timeout");
  assert.equal(r.reasons[0].code, "reference_timeout");
  assert.ok(verifyReceipt(JSON.parse(JSON.stringify(r))).some((p) => p.code === "reference_not_run"));
});
