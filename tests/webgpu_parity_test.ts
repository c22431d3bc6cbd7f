/**
 * Parity against llama.cpp with our engine on the WebGPU backend, on the generated models of
 * tests/parity_models_test.ts and the llama family (NORM RoPE, untied output): each receipt must pass with the
 * project's gates and verify. The backend keeps ggml's float order (engine/backends/webgpu/wgsl_math.ts), so on
 * Mesa llvmpipe the logits equal llama.cpp's (KLD 0; the calibration over every generated model is in
 * docs/parity.md, "WebGPU"). Two prompts and 8 greedy steps keep the file near a minute on llvmpipe;
 * `crossval parity-calibrate --backend webgpu` runs the full set.
 * Needs the llama.cpp library, FFI and a WebGPU adapter (llvmpipe is enough).
 */
import assert from "node:assert/strict";
import { DEFAULT_PROMPTS, runParityOnModel } from "../parity/mod.ts";
import { verifyReceipt } from "../receipts/verify.ts";
import { applyFaults } from "../parity/faults.ts";
import { createBackend } from "../engine/backends/create.ts";
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
  { preset: "tiny-llama" },
  { preset: "tiny-llama", untied: true, outputType: "q6_k" },
];

for (const spec of MODELS) {
  Deno.test(`parity --backend webgpu passes and verifies on a generated model ${JSON.stringify(spec)}`, async () => {
    const steps = 8;
    const r = await runParityOnModel(await fixtureModel(spec), {
      backend: "webgpu",
      steps,
      prompts: DEFAULT_PROMPTS.slice(0, 2),
    });
    assert.equal(r.status, "pass", r.reasons.map((x) => x.message).join("\n"));
    assert.deepEqual(verifyReceipt(JSON.parse(JSON.stringify(r))), []);
    assert.equal(r.engine.backend, "webgpu");
    assert.match(r.engine.device ?? "", /^WebGPU \S/, "the receipt names the adapter (schema 1.2.0)");
    assert.ok(r.engine.kernels.every((k) => k.startsWith("webgpu.")), r.engine.kernels.join());
    assert.equal(r.metrics.compared_tokens, r.prompts.reduce((n, p) => n + p.n_tokens, 0));
    assert.equal(r.metrics.greedy_steps_compared, steps * r.prompts.length);
    assert.equal(r.checks.localization.not_compared.length, 0, r.checks.localization.not_compared.join());
  });
}

Deno.test("a WebGPU receipt must name its adapter from schema 1.2.0 on; a 1.1.0 one (before the field) verifies", async () => {
  const r = JSON.parse(JSON.stringify(
    await runParityOnModel(await fixtureModel({ layers: 2 }), {
      backend: "webgpu",
      steps: 2,
      prompts: DEFAULT_PROMPTS.slice(0, 1),
    }),
  ));
  assert.deepEqual(verifyReceipt(r), []);
  delete r.engine.device;
  assert.deepEqual(verifyReceipt(r).map((p) => [p.path, p.code]), [["/engine/device", "engine_device"]]);
  r.schema_version = "1.1.0";
  assert.deepEqual(verifyReceipt(r), []);
});

Deno.test("parity --backend webgpu catches and localizes a flipped ternary code (ffn_down of layer 2)", async () => {
  const r = await runParityOnModel(await fixtureModel({ layers: 4 }), {
    backend: "webgpu",
    steps: 4,
    prompts: DEFAULT_PROMPTS.slice(0, 1),
    faults: { flipTernarySign: { layer: 2 } },
  });
  assert.equal(r.status, "fail");
  assert.equal(r.checks.localization.first_exceedance?.name, "ffn_down-2");
});

Deno.test("kernel-switching faults are refused on webgpu (its hooks fire after the reads), naming the fix", async () => {
  using faulted = await applyFaults(await fixtureModel({ layers: 2 }), { skipSubNorm: 1 });
  using be = await createBackend("webgpu");
  assert.throws(() => faulted.patch(be), /Cannot inject skipSubNorm on the webgpu backend.*--backend ref or wasm/);
});
