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
import { f32ToF16, quantFormat } from "../engine/quant/mod.ts";
import { fixtureModel } from "./_fixtures.ts";
import { DriverConnection } from "../ffi/references/mod.ts";
import { f32, idsPayload, ikConnection, ok } from "./_reference.ts";

type Rows = Float64Array[];

/** Dequantized weights of the tensors a forward pass needs. */
function weights(file: GgufFile): (name: string) => Float32Array {
  const cache = new Map<string, Float32Array>();
  return (name) => {
    let v = cache.get(name);
    if (!v) {
      const t = file.tensor(name);
      if (!t) throw new Error(`missing tensor ${name}`);
      v = new Float32Array(t.nElements);
      quantFormat(t.type).dequantize(file.readTensor(name), v);
      cache.set(name, v);
    }
    return v;
  };
}

/** `y[n] = sum_k W[n][k] x[k]`, W in ggml order `[K, N]` (row n is `W[n*K .. n*K+K]`). */
function matvec(w: Float32Array, x: Float64Array, N: number): Float64Array {
  const K = x.length, y = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let s = 0;
    const o = n * K;
    for (let k = 0; k < K; k++) s += w[o + k] * x[k];
    y[n] = s;
  }
  return y;
}

/** bitnet.cpp's per-token int8 activation (quantize_row_i8_s): x -> round(x * s) / s with s = 127 / max|x|. */
function int8(x: Float64Array): Float64Array {
  let max = 1e-5;
  for (const v of x) max = Math.max(max, Math.abs(v));
  const s = Math.fround(127 / max);
  return x.map((v) => {
    const q = Math.fround(v * s);
    let r = Math.round(q);
    if (Math.abs(q - Math.trunc(q)) === 0.5) r = 2 * Math.round(q / 2); // ties to even, as nearest_int
    return Math.max(-128, Math.min(127, r)) / s;
  });
}

function rmsnorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * w[i]);
}

/** The bitnet-b1.58 forward pass in float64 (llama.cpp's graph names in comments). */
function forward64(file: GgufFile, ids: number[], quantizeActivations: boolean): Rows {
  const cfg = configFromGguf(file);
  const W = weights(file);
  const E = cfg.nEmbd, F = cfg.nFf, H = cfg.nHead, Hk = cfg.nHeadKv, D = cfg.headDim, V = cfg.nVocab;
  const Kv = Hk * D, eps = cfg.rmsEps;
  const act = quantizeActivations ? int8 : (x: Float64Array) => x;
  const emb = W("token_embd.weight");
  const out = file.tensor("output.weight") ? W("output.weight") : emb;
  const kc: Float64Array[][] = Array.from({ length: cfg.nLayer }, () => []);
  const vc: Float64Array[][] = Array.from({ length: cfg.nLayer }, () => []);
  const logits: Rows = [];
  for (let pos = 0; pos < ids.length; pos++) {
    let x = Float64Array.from(emb.subarray(ids[pos] * E, (ids[pos] + 1) * E));
    for (let il = 0; il < cfg.nLayer; il++) {
      const b = `blk.${il}.`;
      const h = act(rmsnorm(x, W(`${b}attn_norm.weight`), eps)); // attn_norm
      const q = matvec(W(`${b}attn_q.weight`), h, E), k = matvec(W(`${b}attn_k.weight`), h, Kv);
      const v = matvec(W(`${b}attn_v.weight`), h, Kv);
      // RoPE NEOX: pairs (i, i + D/2), theta = pos * base^(-2i/D)
      for (const [t, heads] of [[q, H], [k, Hk]] as const) {
        for (let hh = 0; hh < heads; hh++) {
          for (let i = 0; i < D / 2; i++) {
            const th = pos * Math.pow(cfg.ropeFreqBase, (-2 * i) / D);
            const a = t[hh * D + i], c = t[hh * D + i + D / 2];
            t[hh * D + i] = a * Math.cos(th) - c * Math.sin(th);
            t[hh * D + i + D / 2] = a * Math.sin(th) + c * Math.cos(th);
          }
        }
      }
      kc[il].push(k);
      vc[il].push(v);
      const kqv = new Float64Array(E);
      for (let hh = 0; hh < H; hh++) {
        const g = Math.floor(hh / (H / Hk));
        const sc = kc[il].map((kr) => {
          let s = 0;
          for (let d = 0; d < D; d++) s += q[hh * D + d] * kr[g * D + d];
          return s / Math.sqrt(D);
        });
        const m = Math.max(...sc);
        const e = sc.map((s) => Math.exp(s - m));
        const z = e.reduce((a, c) => a + c, 0);
        for (let j = 0; j < e.length; j++) {
          for (let d = 0; d < D; d++) kqv[hh * D + d] += (e[j] / z) * vc[il][j][g * D + d];
        }
      }
      const sub = act(rmsnorm(kqv, W(`${b}attn_sub_norm.weight`), eps)); // attn_sub_norm
      const o = matvec(W(`${b}attn_output.weight`), sub, E);
      const ffnInp = x.map((xv, i) => xv + o[i]); // ffn_inp
      const n = act(rmsnorm(ffnInp, W(`${b}ffn_norm.weight`), eps)); // ffn_norm
      const up = matvec(W(`${b}ffn_up.weight`), n, F), gate = matvec(W(`${b}ffn_gate.weight`), n, F);
      const a = up.map((u, i) => Math.max(0, gate[i]) ** 2 * u); // relu(gate)^2 * up
      const s2 = act(rmsnorm(a, W(`${b}ffn_sub_norm.weight`), eps)); // ffn_sub_norm
      const down = matvec(W(`${b}ffn_down.weight`), s2, E);
      x = ffnInp.map((v2, i) => v2 + down[i]); // l_out
    }
    // result_norm, rounded to f16 as both engines do before the F16 output matmul (vec_dot_type F16)
    const r = rmsnorm(x, W("output_norm.weight"), eps).map((v) => f32ToF16Value(v));
    logits.push(matvec(out, r, V));
  }
  return logits;
}

function f32ToF16Value(v: number): number {
  return f16Value(f32ToF16(v));
}

function f16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function toRows(flat: Float32Array, V: number): Rows {
  return Array.from({ length: flat.length / V }, (_, r) => Float64Array.from(flat.subarray(r * V, (r + 1) * V)));
}

interface Comparison {
  readonly cosine_min: number;
  readonly cosine_mean: number;
  readonly argmax_agree: string;
  readonly max_abs_diff_rel: number;
}

function compare(a: Rows, b: Rows): Comparison {
  let cmin = 1, csum = 0, agree = 0, rel = 0;
  for (let r = 0; r < a.length; r++) {
    let dot = 0, na = 0, nb = 0, ia = 0, ib = 0, md = 0, mb = 0;
    for (let i = 0; i < a[r].length; i++) {
      dot += a[r][i] * b[r][i], na += a[r][i] ** 2, nb += b[r][i] ** 2;
      if (a[r][i] > a[r][ia]) ia = i;
      if (b[r][i] > b[r][ib]) ib = i;
      md = Math.max(md, Math.abs(a[r][i] - b[r][i])), mb = Math.max(mb, Math.abs(b[r][i]));
    }
    const c = dot / Math.sqrt(na * nb);
    cmin = Math.min(cmin, c), csum += c, agree += ia === ib ? 1 : 0, rel = Math.max(rel, md / mb);
  }
  return {
    cosine_min: Number(cmin.toFixed(7)),
    cosine_mean: Number((csum / a.length).toFixed(7)),
    argmax_agree: `${agree}/${a.length}`,
    max_abs_diff_rel: Number(rel.toExponential(3)),
  };
}

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
  await using c = at >= 0 ? DriverConnection.start(Deno.args[at + 1]) : await ikConnection();
  if (at >= 0) ok(await c.request("hello", { protocol: 1, log: "error" }));
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
