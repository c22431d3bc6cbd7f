/**
 * The test-only fault patch: each fault leaves the layers before it intact, first changes the step it breaks, and
 * reaches the logits; an unmodified engine runs under it; bad fault sets are refused before anything loads.
 */

import assert from "node:assert/strict";
import { createBackend } from "../engine/backends/create.ts";
import { Engine } from "../engine/engine.ts";
import { writeSyntheticModel } from "../engine/synth/write.ts";
import type { SynthSpec } from "../engine/synth/spec.ts";
import { applyFaults, type Faults } from "./faults.ts";

const PROMPT = [1, 17, 300, 42, 999, 5, 77, 256, 12, 640, 3];
const models = new Map<string, string>();

async function model(spec: Partial<SynthSpec>): Promise<string> {
  const key = JSON.stringify(spec);
  if (!models.has(key)) {
    models.set(key, (await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), spec)).path);
  }
  return models.get(key)!;
}

/** Every hooked tensor of one evaluation, with the faults applied (or none). */
async function run(path: string, faults?: Faults): Promise<[string, Float32Array][]> {
  const seen: [string, Float32Array][] = [];
  const hook = (n: string, d: Float32Array) => void seen.push([n, d.slice()]);
  using faulted = faults ? await applyFaults(path, faults) : undefined;
  const patched = faulted?.patch(await createBackend("ref"), hook);
  using e = await Engine.load(faulted?.path ?? path, {
    nCtx: 64,
    numerics: "exact",
    backend: patched?.backend ?? "ref",
    onTensor: patched?.onTensor ?? hook,
  });
  await e.eval(PROMPT, { positions: "all" });
  return seen;
}

const FAULTS: { fault: Faults; first: string }[] = [
  { fault: { ropeNorm: 1 }, first: "Qcur-1" },
  { fault: { positionOffByOne: 1 }, first: "Kcur-1" },
  { fault: { skipSubNorm: 1 }, first: "attn_sub_norm-1" },
  { fault: { swapActivation: 1 }, first: "ffn_sub_out-1" },
  { fault: { flipTernarySign: { layer: 1, tensor: "ffn_down" } }, first: "ffn_down-1" },
  { fault: { flipTernarySign: { layer: 1, tensor: "attn_k", row: 3 } }, first: "Kcur-1" },
  { fault: { perTokenActQuant: 1 }, first: "Qcur-1" },
];

for (const { fault, first } of FAULTS) {
  Deno.test(`applyFaults(${JSON.stringify(fault)}) leaves layer 0 intact and first changes ${first}`, async () => {
    // E = 512: two Q8_K blocks per row, so per-token and per-block activation quantization differ from Qcur on.
    const path = await model({ layers: 3, embd: 512, type: "tq1_0" });
    const clean = new Map(await run(path)), bad = await run(path, fault);
    const differs = bad.filter(([n, d]) => !clean.has(n) || clean.get(n)!.some((v, i) => v !== d[i])).map(([n]) => n);
    assert.equal(differs[0], first, `first differing tensor (all: ${differs.join(", ")})`);
    for (const [n] of bad) {
      if (n === "inp_embd" || n.endsWith("-0")) assert.ok(!differs.includes(n), `${n} must not change`);
    }
    assert.ok(differs.includes("result_output"), "the fault reaches the logits");
  });
}

Deno.test("applyFaults() refuses unknown names, bad layers and inapplicable faults, and removes its copy", async () => {
  const two = await model({ layers: 2 });
  await assert.rejects(() => applyFaults(two, { ropeNorm: 7 }), /ropeNorm=7: the model has layers 0\.\.1/);
  await assert.rejects(() => applyFaults(two, { nope: 1 } as unknown as Faults), /Unknown fault "nope"/);
  await assert.rejects(
    async () => applyFaults(await model({ type: "i2_s" }), { perTokenActQuant: 0 }),
    /already quantized per token/,
  );
  const f = await applyFaults(two, { flipTernarySign: { layer: 0 } });
  assert.notEqual(f.path, two);
  f.close();
  await assert.rejects(() => Deno.stat(f.path), Deno.errors.NotFound);
});

globalThis.addEventListener("unload", () => {
  for (const p of models.values()) Deno.removeSync(p);
});
