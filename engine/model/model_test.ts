/**
 * The forward pass on generated models, with the reference backend: consistency of chunked, incremental and
 * all-positions evaluation (the KV cache), llama.cpp's intermediate names through the hook, the architecture
 * variants (relu2, I2_S) and load-time validation. (The test-only faults are tested in parity/faults_test.ts.)
 *
 * @module
 */

import assert from "node:assert/strict";
import { fixtureModel } from "../synth/_testing.ts";
import { encodeGguf, GgufFile } from "../gguf/mod.ts";
import { RefBackend } from "../backends/mod.ts";
import { BitnetModel } from "./bitnet.ts";
import type { LoadOptions } from "./graph.ts";
import { ropeTable } from "./rope.ts";
import type { SynthSpec } from "../synth/mod.ts";

const PROMPT = Int32Array.from([1, 17, 300, 42, 999, 5, 77, 256, 12, 640, 3]);

async function load(
  spec: Partial<SynthSpec>,
  opts: LoadOptions = {},
): Promise<{ model: BitnetModel; close: () => void }> {
  const file = GgufFile.open(await fixtureModel(spec));
  const be = RefBackend.create();
  try {
    return { model: BitnetModel.load(file, be, { nCtx: 64, ...opts }), close: () => be.close() };
  } finally {
    file.close();
  }
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let m = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return m / scale;
}

Deno.test("forward: chunked, incremental and all-positions evaluation give the same logits", async () => {
  const a = await load({});
  const b = await load({}, { maxBatch: 3 });
  try {
    const last = (await a.model.forward(PROMPT, 0)).slice();
    const all = await a.model.forward(PROMPT, 0, { logits: "all" });
    const V = a.model.config.nVocab;
    assert.equal(all.length, PROMPT.length * V);
    // Same path (batches of >= 2 tokens everywhere): bit-identical.
    assert.deepEqual(await b.model.forward(PROMPT, 0, { logits: "all" }), all, "chunks of 3 == one batch");
    assert.deepEqual((await b.model.forward(PROMPT, 0)).slice(), last, "chunked last == one batch last");
    // Other paths sum in another order, as llama.cpp does (one output row vs several, one token vs a batch).
    assert.ok(maxRelDiff(all.subarray((PROMPT.length - 1) * V), last) < 1e-5, "last row of all ~ last");
    await a.model.forward(PROMPT.subarray(0, PROMPT.length - 1), 0, { logits: "none" });
    const decoded = (await a.model.forward(PROMPT.subarray(PROMPT.length - 1), PROMPT.length - 1)).slice();
    assert.ok(maxRelDiff(decoded, last) < 1e-5, "decode ~ prefill");
    // A different prefix changes the logits (the cache is really read).
    await a.model.forward(Int32Array.of(2, 2, 2), 0, { logits: "none" });
    assert.ok(maxRelDiff((await a.model.forward(PROMPT.subarray(PROMPT.length - 1), 3)).slice(), last) > 1e-3);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("forward: the hook sees llama.cpp's intermediate names in graph order", async () => {
  const names: string[] = [];
  const shapes = new Map<string, [number, number]>();
  const m = await load({ scales: true }, {
    onTensor: (name, data, { rows, cols }) => {
      names.push(name);
      shapes.set(name, [rows, cols]);
      assert.equal(data.length, rows * cols);
    },
  });
  try {
    await m.model.forward(PROMPT, 0);
    const { nEmbd: E, nFf: F, nHeadKv, headDim, nVocab } = m.model.config;
    const layer = (il: number): string[] => [
      `attn_norm-${il}`,
      `Qcur-${il}`,
      `Kcur-${il}`,
      `Vcur-${il}`,
      `kqv_out-${il}`,
      `attn_sub_norm-${il}`,
      `attn_out-${il}`,
      `ffn_inp-${il}`,
      `ffn_norm-${il}`,
      `ffn_up-${il}`,
      `ffn_up_s-${il}`,
      `ffn_gate-${il}`,
      `ffn_gate_s-${il}`,
      `ffn_sub_out-${il}`,
      `ffn_sub_norm-${il}`,
      `ffn_down-${il}`,
      `l_out-${il}`,
    ];
    const L = m.model.config.nLayer;
    assert.deepEqual(names, [
      "inp_embd",
      ...Array.from({ length: L }, (_, il) => layer(il)).flat(),
      "result_norm",
      "result_output",
    ]);
    const T = PROMPT.length;
    assert.deepEqual(shapes.get("Kcur-0"), [T, nHeadKv * headDim]);
    assert.deepEqual(shapes.get(`ffn_inp-${L - 2}`), [T, E]);
    assert.deepEqual(shapes.get(`attn_out-${L - 1}`), [T, E], "the last layer computes attention for every token");
    assert.deepEqual(
      shapes.get(`ffn_inp-${L - 1}`),
      [1, E],
      "then keeps only the output row, as llama.cpp's inp_out_ids",
    );
    assert.deepEqual(shapes.get("ffn_sub_norm-0"), [T, F]);
    assert.deepEqual(shapes.get("result_output"), [1, nVocab]);
  } finally {
    m.close();
  }
});

Deno.test("forward: bitnet-b1.58 gates with relu(gate)^2 * up, bitnet with silu(gate) * up", async () => {
  for (const arch of ["bitnet", "bitnet-b1.58"] as const) {
    const t = new Map<string, Float32Array>();
    const m = await load({ arch }, { onTensor: (name, data) => t.set(name, data.slice()) });
    try {
      await m.model.forward(PROMPT, 0);
      const g = t.get("ffn_gate-0")!, u = t.get("ffn_up-0")!, y = t.get("ffn_sub_out-0")!;
      for (let i = 0; i < y.length; i++) {
        const want = arch === "bitnet" ? (g[i] / (1 + Math.exp(-g[i]))) * u[i] : Math.max(g[i], 0) ** 2 * u[i];
        assert.ok(Math.abs(y[i] - want) <= 1e-6 * Math.abs(want) + 1e-30, `${arch} element ${i}: ${y[i]} vs ${want}`);
      }
    } finally {
      m.close();
    }
  }
});

Deno.test("forward: I2_S weights run through per-token int8 activations", async () => {
  const m = await load({ type: "i2_s" });
  try {
    const logits = await m.model.forward(PROMPT, 0);
    assert.ok(logits.every(Number.isFinite));
    const ks = m.model.backend.kernels();
    assert.ok(ks.includes("ref.quantize.i8_s") && ks.includes("ref.gemm.i2_s_i8_s"), ks.join(", "));
    assert.ok(!ks.includes("ref.quantize.q8_k"), "the F16 output matmul does not need Q8_K");
  } finally {
    m.close();
  }
});

Deno.test("forward: rejects bad token ids and a full context with the fix", async () => {
  const m = await load({}, { nCtx: 8 });
  try {
    await assert.rejects(
      () => m.model.forward(Int32Array.of(1, 99999), 0),
      /token id 99999 at index 1: the vocabulary has ids 0\.\./,
    );
    await assert.rejects(
      () => m.model.forward(PROMPT, 0),
      /the context holds 8 tokens\. Reset the sequence or load the model with a larger nCtx/,
    );
    await assert.rejects(() => m.model.forward(new Int32Array(0), 0), /zero tokens/);
  } finally {
    m.close();
  }
});

/** Rewrite a fixture with one tensor dropped or replaced, as an in-memory GGUF. */
async function doctored(
  edit: (name: string, shape: readonly number[]) => "drop" | readonly number[] | undefined,
): Promise<GgufFile> {
  using src = GgufFile.open(await fixtureModel({}));
  const tensors = [];
  for (const t of src.tensors) {
    const e = edit(t.name, t.shape);
    if (e === "drop") continue;
    tensors.push({ name: t.name, shape: e ?? t.shape, type: t.type, data: src.readTensor(t.name) });
  }
  return GgufFile.fromBytes(encodeGguf({ metadata: src.header.metadata, tensors }));
}

Deno.test("load: a missing or mis-shaped tensor fails, naming the tensor", async () => {
  using be = RefBackend.create();
  const missing = await doctored((n) => (n === "blk.1.ffn_up.weight" ? "drop" : undefined));
  assert.throws(
    () => BitnetModel.load(missing, be),
    (e: Error) => e instanceof RangeError && /missing tensor blk\.1\.ffn_up\.weight/.test(e.message),
  );
  const shaped = await doctored((n, s) => (n === "blk.0.attn_sub_norm.weight" ? [s[0] / 2, 2] : undefined));
  assert.throws(
    () => BitnetModel.load(shaped, be),
    /blk\.0\.attn_sub_norm\.weight has shape \[128, 2\], expected \[256\]/,
  );
});

Deno.test("ropeTable follows ggml: f32 angles by repeated products, R/2 cosines then R/2 sines", () => {
  const R = 8, base = 500000;
  const t = ropeTable(new Float32Array(3 * R), { pos0: 100, nRot: R, freqBase: base });
  for (let p = 0; p < 3; p++) {
    let theta = Math.fround(100 + p);
    const scale = Math.fround(Math.pow(base, Math.fround(-2 / R)));
    for (let j = 0; j < R / 2; j++) {
      assert.equal(t[p * R + j], Math.fround(Math.cos(theta)));
      assert.equal(t[p * R + R / 2 + j], Math.fround(Math.sin(theta)));
      // and within f32 drift of the exact angle
      assert.ok(Math.abs(theta - (100 + p) * Math.pow(base, -2 * j / R)) < 1e-4 * (100 + p));
      theta = Math.fround(theta * scale);
    }
  }
});
