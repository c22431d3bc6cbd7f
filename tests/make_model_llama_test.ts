/**
 * Generated `bitnet` models load and decode in the pinned llama.cpp (through the FFI bridge), and are not
 * degenerate; `bitnet-b1.58` / I2_S files are refused by stock llama.cpp, as `inspect` says.
 */
import assert from "node:assert/strict";
import { CppModel } from "../ffi/mod.ts";
import { fixtureModel } from "./_fixtures.ts";

const PROMPTS = ["The morning train left the station", "Once upon a time, in a house at the edge of a forest"];

for (const type of ["tq2_0", "tq1_0"] as const) {
  for (const embedType of ["f16", "bf16", "q8_0", "q6_k"] as const) {
    Deno.test(`make-model ${type}/${embedType}: llama.cpp loads it and greedy-decodes varied tokens`, async () => {
      const path = await fixtureModel({ type, embedType });
      using m = await CppModel.load(path, { threads: 1, parity: true });
      assert.equal(m.info().arch, "bitnet");
      for (const prompt of PROMPTS) {
        const r = m.generateGreedy(prompt, 24);
        assert.equal(r.ids.length, 24);
        const distinct = new Set(r.ids).size;
        // A degenerate model echoes one token; ours must keep producing new ones.
        assert.ok(distinct >= 8, `only ${distinct} distinct tokens in ${[...r.ids]} for "${prompt}"`);
        const logits = m.eval(m.tokenize(prompt), { positions: "last" }).logits;
        assert.ok(logits.every(Number.isFinite), "non-finite logits");
      }
    });
  }
}

for (const spec of [{ arch: "bitnet-b1.58" as const }, { type: "i2_s" as const }]) {
  Deno.test(`make-model ${JSON.stringify(spec)}: stock llama.cpp refuses the file with an error`, async () => {
    const path = await fixtureModel(spec);
    await assert.rejects(() => CppModel.load(path, { threads: 1 }));
  });
}
