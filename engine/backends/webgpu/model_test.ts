/**
 * Whole models on the WebGPU backend against the reference backend (which is bit-exact with llama.cpp, see
 * tests/engine_vs_llama_test.ts): generated models of every ternary and embedding type, every architecture, GQA,
 * per-tensor scales, prompts longer than the batch; logits of every position, decode steps (the fused QKV/up-gate
 * path with its `copy` into the KV cache), and the hooked intermediates must be the same bits.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { Engine } from "../../engine.ts";
import type { SynthSpec } from "../../synth/mod.ts";
import { writeSyntheticModel } from "../../synth/mod.ts";
import { compareF32 } from "./_testing.ts";

const MODELS: Partial<SynthSpec>[] = [
  { layers: 2, scales: true },
  { layers: 2, type: "tq1_0", embedType: "q8_0", arch: "bitnet-b1.58" },
  { layers: 2, type: "i2_s", embedType: "bf16", arch: "bitnet-b1.58" },
  { layers: 2, embedType: "q6_k", heads: 8, headsKv: 2 },
  // The llama family: NORMAL RoPE (rope.norm), untied output of another type, rope frequency factors.
  { preset: "tiny-llama", arch: "llama", layers: 2 },
  { preset: "tiny-llama", arch: "llama", layers: 2, untied: true, outputType: "q6_k", ropeFreqs: true },
];

const dir = await Deno.makeTempDir({ prefix: "webgpu-model-test-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

async function run(path: string, backend: "ref" | "webgpu", prompt: number[]) {
  const tensors = new Map<string, Float32Array>();
  using e = await Engine.load(path, {
    backend,
    // The webgpu backend has one kernel set, ggml's order: compare it with the ref backend's exact profile.
    numerics: "exact",
    nCtx: 96,
    maxBatch: 24,
    onTensor: (name, data) => {
      if (!tensors.has(name)) tensors.set(name, data.slice());
    },
  });
  const all = await e.eval(prompt, { positions: "all" });
  const steps: Float32Array[] = [];
  for (const id of [5, 77, 300]) steps.push((await e.decode([id])).slice());
  return { all, steps, tensors, kernels: e.kernels(), device: e.info().device };
}

for (const [i, spec] of MODELS.entries()) {
  Deno.test(`a generated model gives the reference's bits on webgpu: ${JSON.stringify(spec)}`, async () => {
    const path = `${dir}/m${i}.gguf`;
    await writeSyntheticModel(path, spec);
    const prompt = Array.from({ length: 41 }, (_, k) => (k * 131 + 7) % 1000); // 2 chunks of the 24-token batch
    const ref = await run(path, "ref", prompt), gpu = await run(path, "webgpu", prompt);
    ok(gpu.kernels.every((k) => k.startsWith("webgpu.")) && gpu.kernels.some((k) => k.includes(".gemm.")));
    ok(gpu.device.startsWith("WebGPU "), gpu.device);
    const c = compareF32(ref.all, gpu.all);
    equal(c.same, ref.all.length, `logits: ${ref.all.length - c.same} differ, first at ${c.first}`);
    for (let s = 0; s < ref.steps.length; s++) deepEqual(gpu.steps[s], ref.steps[s], `decode step ${s}`);
    deepEqual([...gpu.tensors.keys()], [...ref.tensors.keys()]);
    for (const [name, r] of ref.tensors) {
      const d = compareF32(r, gpu.tensors.get(name)!);
      equal(d.same, r.length, `${name}: ${r.length - d.same} values differ`);
    }
  });
}
