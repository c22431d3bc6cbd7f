/**
 * Measurement behind docs/references.md ("How close ik_llama.cpp and our engine are"): teacher-forced logits of
 * generated bitnet-b1.58 I2_S models from four computations, compared position by position (cosine, argmax):
 *
 * - ours: our engine on the I2_S file (activations quantized per token to int8, as BitNet and bitnet.cpp do);
 * - ik F32 / ik IQ2_BN: ik_llama.cpp (through its protocol driver) on the lossless F32 transcode, and on its own
 *   IQ2_BN requantization (rows >= 512 only; its matmul quantizes activations to Q8_K64);
 * - f64 float / f64 int8: an independent float64 forward pass written here (it shares only the GGUF reader and the
 *   dequantizers with the engine), without and with bitnet.cpp's per-token int8 activations.
 *
 * Usage: `deno run -A tests/reference_feasibility.ts [--json] [--driver PATH]` (needs `crossval reference build`
 * first, or `--driver` naming a driver executable built by hand).
 * Not a test: it prints numbers for calibrating the parity gates; the tests assert the facts.
 *
 * @module
 */

import { transcodeToFloat } from "../engine/convert/transcode_float.ts";
import { GgufFile } from "../engine/gguf/mod.ts";
import { configFromGguf, Engine } from "../engine/mod.ts";
import { fixtureModel } from "./_fixtures.ts";
import { compare, forward64, toRows } from "./_forward64.ts";
import { ReferenceProcess } from "../ffi/ref_process.ts";
import { f32, idsPayload, ikConnection, ok } from "./_reference.ts";

const MODELS = [
  { label: "tiny (256 wide, 4 layers)", spec: { preset: "tiny", embd: 256 } },
  { label: "tiny, 512 wide", spec: { preset: "tiny", embd: 512 } },
  { label: "2b4t shape, 1 layer", spec: { preset: "2b4t", layers: 1 } },
] as const;

const json = Deno.args.includes("--json");
const dir = await Deno.makeTempDir({ prefix: "crossval-feasibility-" });
const results: Record<string, unknown>[] = [];
try {
  const at = Deno.args.indexOf("--driver");
  await using c = at >= 0
    ? await ReferenceProcess.spawn({ log: "error", driver: { cmd: Deno.args[at + 1], args: [] } })
    : await ikConnection();
  for (const { label, spec } of MODELS) {
    const src = await fixtureModel({ arch: "bitnet-b1.58", type: "i2_s", ...spec });
    const f32Path = `${dir}/f32.gguf`;
    await transcodeToFloat(src, f32Path);
    using file = GgufFile.open(src);
    const V = configFromGguf(file).nVocab;
    const prompt = "The quick brown fox jumps over the lazy dog while the cat watches quietly";
    const mi = ok(await c.request("load", { path: src, vocab_only: 1 })).header.model;
    const ids = [
      ...new Int32Array(
        ok(await c.request("tokenize", { model: mi }, new TextEncoder().encode(prompt))).payload.slice().buffer,
      ),
    ]
      .slice(0, 16);
    ok(await c.request("unload", { model: mi }));
    const ikRows = async (path: string) => {
      const m = ok(await c.request("load", { path, parity: 1, threads: 2, n_ctx: 64 })).header.model;
      const r = f32(ok(await c.request("eval", { model: m, logits: "all" }, idsPayload(ids))).payload);
      ok(await c.request("unload", { model: m }));
      return toRows(r, V);
    };
    const ikF32 = await ikRows(f32Path);
    await using engine = await Engine.load(src, { threads: 2, nCtx: 64 });
    const ours = toRows(await engine.eval(ids, { positions: "all" }), V);
    const f64 = forward64(file, ids, false), f64i8 = forward64(file, ids, true);
    const row: Record<string, unknown> = {
      model: label,
      positions: ids.length,
      "ours vs ik F32": compare(ours, ikF32),
      "f64 float vs ik F32": compare(f64, ikF32),
      "f64 int8 vs ours": compare(f64i8, ours),
      "f64 int8 vs f64 float": compare(f64i8, f64),
    };
    if (configFromGguf(file).nEmbd >= 512) {
      const bn = `${dir}/iq2bn.gguf`;
      ok(await c.request("quantize", { path: src, out: bn, ftype: 137, threads: 2 }));
      const ikBn = await ikRows(bn);
      row["ours vs ik IQ2_BN"] = compare(ours, ikBn);
      row["f64 float vs ik IQ2_BN"] = compare(f64, ikBn);
    }
    results.push(row);
    if (!json) console.log(JSON.stringify(row, null, 1));
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
if (json) console.log(JSON.stringify(results));
