import assert from "node:assert/strict";
import { computeSupport, GGML_TYPE_IDS as T, supportMessage, type TensorDesc } from "./compute_support.ts";

/** The tensors of a one-layer BitNet file with projections of `type` and rows of `k` weights. */
function model(type: number, k = 256, embd: number = T.F16): TensorDesc[] {
  return [
    { name: "token_embd.weight", type: embd, shape: [k, 1024] },
    { name: "output_norm.weight", type: T.F32, shape: [k] },
    { name: "blk.0.attn_norm.weight", type: T.F32, shape: [k] },
    { name: "blk.0.attn_q.weight", type, shape: [k, k] },
    { name: "blk.0.ffn_up.weight", type, shape: [k, 3 * k] },
    { name: "blk.0.ffn_down.weight", type, shape: [3 * k, k] },
  ];
}

Deno.test("ik_llama.cpp computes bitnet-b1.58 in F32, F16 and (rows >= 512) IQ2_BN", () => {
  for (const type of [T.F32, T.F16, T.BF16]) {
    assert.equal(computeSupport("ik_llama.cpp", { arch: "bitnet-b1.58", tensors: model(type) }).ok, true);
  }
  assert.equal(computeSupport("ik_llama.cpp", { arch: "bitnet-b1.58", tensors: model(T.IQ2_BN, 512) }).ok, true);
});

Deno.test("ik_llama.cpp refuses I2_S by name (it would compute garbage) and offers the lossless F32 transcode", () => {
  const v = computeSupport("ik_llama.cpp", { arch: "bitnet-b1.58", tensors: model(T.I2_S) });
  assert.equal(v.ok, false);
  assert.equal(v.transcodable, true);
  assert.deepEqual(v.transcodeTensors, ["blk.0.attn_q.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight"]);
  assert.equal(v.problems.length, 1);
  assert.match(v.problems[0].reason, /3 tensors of type I2_S: .*no I2_S matmul: it computes garbage/);
  assert.match(v.problems[0].fix, /transcode it losslessly to F32/);
  assert.match(supportMessage(v, "m.gguf"), /^ik_llama\.cpp cannot compute m\.gguf:\n- 3 tensors of type I2_S/);
});

Deno.test("ik_llama.cpp refuses TQ2_0 and TQ1_0 (SIGFPE), offering the transcode; llama.cpp only where it computes the architecture", () => {
  for (const [type, name] of [[T.TQ2_0, "TQ2_0"], [T.TQ1_0, "TQ1_0"]] as const) {
    const v = computeSupport("ik_llama.cpp", { arch: "bitnet-b1.58", tensors: model(type) });
    assert.equal(v.ok, false);
    assert.equal(v.transcodable, true);
    assert.match(v.problems[0].reason, new RegExp(`no ${name} .*SIGFPE`));
    // The pinned llama.cpp has no bitnet-b1.58: naming it would not help.
    assert.equal(v.problems[0].fix, "transcode it losslessly to F32 (parity does this itself for this reference)");
  }
  // A llama model: ik_llama.cpp is not verified for the architecture, so no transcode helps; llama.cpp computes it.
  const llama = computeSupport("ik_llama.cpp", { arch: "llama", tensors: model(T.TQ2_0) });
  assert.equal(llama.transcodable, false);
  assert.deepEqual(llama.problems.map((p) => [p.kind, p.fix]), [
    ["architecture", "--reference llama.cpp"],
    ["type", "--reference llama.cpp"],
  ]);
});

Deno.test("IQ2_BN rows shorter than 512 are refused with ik_llama.cpp's own assertion, not transcodable", () => {
  const v = computeSupport("ik_llama.cpp", { arch: "bitnet-b1.58", tensors: model(T.IQ2_BN, 256) });
  assert.equal(v.ok, false);
  assert.equal(v.transcodable, false);
  // ffn_down's rows are 768 long: only the 256-wide rows of attn_q and ffn_up fail.
  assert.deepEqual(v.problems.map((p) => p.tensors[0]), ["blk.0.attn_q.weight", "blk.0.ffn_up.weight"]);
  assert.deepEqual(v.problems.map((p) => p.kind), ["shape", "shape"]);
  assert.match(v.problems[0].reason, /rows hold 256 weights.*GGML_ASSERT\(k >= 8\*QK_IQ1BN\)/);
});

Deno.test("the pinned llama.cpp refuses bitnet-b1.58 (SiLU) and I2_S, naming ik_llama and crossval convert", () => {
  const arch = computeSupport("llama.cpp", { arch: "bitnet-b1.58", tensors: model(T.TQ2_0) });
  assert.equal(arch.ok, false);
  assert.equal(arch.transcodable, false);
  assert.match(arch.problems[0].reason, /no bitnet-b1\.58 architecture.*SiLU/);
  assert.equal(arch.problems[0].fix, "--reference ik_llama");
  const i2s = computeSupport("llama.cpp", { arch: "bitnet", tensors: model(T.I2_S) });
  assert.equal(i2s.ok, false);
  assert.match(i2s.problems[0].fix, /crossval convert IN --to tq2_0 --out OUT/);
  // bitnet-b1.58 in I2_S: converting it would not give llama.cpp the architecture; ik_llama.cpp is the fix.
  const b158 = computeSupport("llama.cpp", { arch: "bitnet-b1.58", tensors: model(T.I2_S) });
  assert.deepEqual(b158.problems.map((p) => [p.kind, p.fix]), [
    ["architecture", "--reference ik_llama"],
    ["type", "--reference ik_llama"],
  ]);
  assert.equal(computeSupport("llama.cpp", { arch: "bitnet", tensors: model(T.TQ2_0) }).ok, true);
});

Deno.test("an architecture or a type the table does not list is refused as not verified", () => {
  const v = computeSupport("ik_llama.cpp", { arch: "qwen3", tensors: model(2) });
  assert.equal(v.ok, false);
  assert.deepEqual(v.problems.map((p) => p.kind), ["architecture", "type"]);
  assert.match(v.problems[0].reason, /not verified to compute architecture "qwen3" \(verified: bitnet-b1\.58\)/);
  assert.match(v.problems[1].reason, /not verified to compute type 2/);
});
