/**
 * The `fast` numerics profile passes its parity gates (`parity-gates-fast/1`, docs/parity.md "Fast profile") on a
 * generated model of every family the engine runs: `bitnet` and `llama` against the pinned llama.cpp, `bitnet-b1.58`
 * (squared-ReLU FFN, I2_S weights: stock llama.cpp computes neither) against our engine's `exact` profile, the
 * bit-for-bit twin of llama.cpp's x86 order. The gates must still catch faults: a gross one (wrong RoPE pairing) at
 * the logits and a subtle one (one flipped ternary sign) by localization, each in the injected layer. Needs the
 * llama.cpp library.
 */
import assert from "node:assert/strict";
import { calibrate } from "../parity/calibrate.ts";
import { DEFAULT_PROMPTS, runParityOnModel } from "../parity/mod.ts";
import { FAST_THRESHOLDS } from "../receipts/parity_gates.ts";
import { verifyReceipt } from "../receipts/verify.ts";
import type { SynthSpec } from "../engine/synth/mod.ts";
import { fixtureModel } from "./_fixtures.ts";

/** Prose, code and chat markup with special tokens; 8 greedy steps each. */
const PROMPTS = [DEFAULT_PROMPTS[0], DEFAULT_PROMPTS[2], DEFAULT_PROMPTS[5]];

const AGAINST_LLAMA_CPP: Partial<SynthSpec>[] = [
  { layers: 4 },
  { layers: 4, type: "tq1_0", embedType: "bf16" },
  { preset: "tiny-llama", arch: "llama" },
  { preset: "tiny-llama", arch: "llama", untied: true, outputType: "q6_k", ropeFreqs: true },
];

for (const spec of AGAINST_LLAMA_CPP) {
  Deno.test(`fast profile: parity passes its own gates against llama.cpp on ${JSON.stringify(spec)}`, async () => {
    const r = await runParityOnModel(await fixtureModel(spec), { numerics: "fast", prompts: PROMPTS, steps: 8 });
    assert.equal(r.status, "pass", r.reasons.map((x) => x.message).join("\n"));
    assert.equal(r.engine.numerics, "fast");
    assert.equal(r.thresholds.id, FAST_THRESHOLDS.id);
    assert.ok(r.engine.kernels.some((k) => k.includes(".fast.")), r.engine.kernels.join());
    assert.deepEqual(verifyReceipt(JSON.parse(JSON.stringify(r))), []);
    // The fast profile is a different float order: llama.cpp's logits are not reproduced to the bit.
    assert.ok((r.checks.logits.summary?.max_abs_dlogit ?? 0) > 0, "fast logits differ from llama.cpp's by float noise");
  });
}

Deno.test("fast profile: bitnet-b1.58 models (TQ2_0 and I2_S) pass against the exact profile", async () => {
  const records = await calibrate({
    models: [{ layers: 4, arch: "bitnet-b1.58" }, { layers: 4, arch: "bitnet-b1.58", type: "i2_s" }],
    numerics: "fast",
    prompts: PROMPTS,
    steps: 8,
  });
  for (const r of records) {
    assert.equal(r.reference, "engine-exact");
    assert.equal(r.status, "pass", JSON.stringify(r));
    assert.ok(typeof r.tokens === "number" && r.tokens > 0, "every position was compared");
  }
});

Deno.test("fast profile: its gates still catch a gross fault at the logits and a subtle one by localization", async () => {
  const path = await fixtureModel({ layers: 4 });
  const gross = await runParityOnModel(path, { numerics: "fast", faults: { ropeNorm: 1 }, prompts: PROMPTS, steps: 8 });
  assert.equal(gross.status, "fail");
  assert.equal(gross.checks.logits.status, "fail");
  assert.equal(gross.checks.localization.first_exceedance?.layer, 1);
  const subtle = await runParityOnModel(path, {
    numerics: "fast",
    faults: { flipTernarySign: { layer: 2 } },
    prompts: PROMPTS,
    steps: 8,
  });
  assert.equal(subtle.status, "fail");
  assert.equal(subtle.checks.localization.status, "fail");
  assert.equal(subtle.checks.localization.first_exceedance?.name, "ffn_down-2");
});
