// The bug this tool exists to catch (microsoft/BitNet #588, #602: a llama.cpp that runs BitNet b1.58 2B4T with a SiLU
// FFN instead of squared ReLU, perplexity 99.8 instead of 17.1). A reference with exactly that bug is at hand: the
// pinned llama.cpp's `bitnet` graph hard-codes SiLU (src/models/bitnet.cpp). So the same weights are handed to it
// relabelled as arch `bitnet`, and our `bitnet-b1.58` engine (squared ReLU) is compared with it.
//
// Isolating the activation: our I2_S path quantizes activations per token to int8 (bitnet.cpp), llama.cpp's TQ2_0 path
// per 256-block to Q8_K, which alone is a visible difference. So both sides run TQ2_0: the I2_S model converted
// losslessly (`crossval convert --to tq2_0`), our engine on it as `bitnet-b1.58`, llama.cpp on a copy whose only change
// is the architecture name. Our TQ2_0 path is bit-exact with llama.cpp's (docs/parity.md), so the only difference left
// is the FFN activation. The control run proves it: our engine on the relabelled copy (SiLU, as llama.cpp) passes.
import assert from "node:assert/strict";
import { convertGguf } from "../engine/convert/convert_gguf.ts";
import { encodeGguf, GgufFile, type GgufKv } from "../engine/gguf/mod.ts";
import { CppSubject } from "../parity/cpp_subject.ts";
import { EngineSubject } from "../parity/engine_subject.ts";
import { runParity } from "../parity/harness.ts";
import { describeModelFile } from "../parity/model_facts.ts";
import { DEFAULT_PROMPTS } from "../parity/prompts.ts";
import { verifyReceipt } from "../receipts/verify.ts";
import { fixtureModel, withTempDir } from "./_fixtures.ts";

/** A copy of `src` whose architecture is `arch` (every `<old arch>.*` key renamed); tensors byte for byte. */
async function relabel(src: string, out: string, arch: string): Promise<void> {
  using f = GgufFile.open(src);
  const old = f.architecture;
  const metadata: [string, GgufKv][] = [...f.header.metadata].map(([k, v]) =>
    k === "general.architecture"
      ? [k, { ...v, value: arch } as GgufKv]
      : [k.startsWith(`${old}.`) ? `${arch}.${k.slice(old.length + 1)}` : k, v]
  );
  const tensors = f.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: f.readTensor(t.name) }));
  await Deno.writeFile(out, encodeGguf({ metadata, tensors }));
}

async function parity(enginePath: string, referencePath: string) {
  const { model, tokenizer } = await describeModelFile(enginePath);
  using engine = await EngineSubject.open(enginePath, { threads: 1, nCtx: 256 });
  await using reference = await CppSubject.open(referencePath, { threads: 1, nCtx: 256, greedySteps: 8 });
  return await runParity(engine, reference, DEFAULT_PROMPTS.slice(0, 3), { model, tokenizer, steps: 8 });
}

Deno.test("parity against a reference that computes SiLU instead of squared ReLU fails at layer 0's FFN activation", async () => {
  await withTempDir("silu-bug-", async (dir) => {
    const i2s = await fixtureModel({ arch: "bitnet-b1.58", type: "i2_s" });
    const b158 = `${dir}/b158-tq2_0.gguf`, bitnet = `${dir}/bitnet-tq2_0.gguf`;
    await convertGguf(i2s, b158, { to: "tq2_0" });
    await relabel(b158, bitnet, "bitnet");

    const r = await parity(b158, bitnet);
    assert.equal(r.status, "fail");
    assert.equal(r.reference.arch, "bitnet");
    assert.equal(r.model.arch, "bitnet-b1.58");
    const loc = r.checks.localization;
    assert.equal(loc.first_exceedance?.name, "ffn_sub_out-0", JSON.stringify(loc.first_exceedance));
    // Everything before the activation matched op by op: the projections feeding it are not to blame.
    for (const name of ["attn_norm-0", "Qcur-0", "kqv_out-0", "ffn_inp-0", "ffn_norm-0", "ffn_up-0", "ffn_gate-0"]) {
      const t = loc.tensors.find((x) => x.name === name);
      assert.equal(t?.status, "ok", `${name}: ${JSON.stringify(t)}`);
    }
    // The receipt says so in words, derived from the localization (receipts/parity_gates.ts judgeLocalization).
    const why = r.reasons.find((x) => x.check === "localization")?.message ?? "";
    assert.match(why, /^first divergence at layer 0 ffn activation: given the same ffn_gate and ffn_up/);
    assert.match(why, /the reference's FFN activation differs \(SiLU vs squared ReLU\?\)/);
    assert.match(why, /ffn_sub_out-0/);
    // The verdict is the receipt's own numbers: it verifies as written, and the same numbers claiming a pass do not.
    const json = JSON.parse(JSON.stringify(r));
    assert.deepEqual(verifyReceipt(json), []);
    const claimed = verifyReceipt({ ...json, status: "pass", reasons: [] }).map((p) => p.code);
    assert.ok(claimed.length > 0, "a receipt of this run that claims a pass is refused");

    // Control: our engine with llama.cpp's activation (the relabelled file) on both sides passes: only the
    // activation differed.
    const control = await parity(bitnet, bitnet);
    assert.equal(control.status, "pass", JSON.stringify(control.reasons));
  });
});
