/**
 * An independent float64 forward pass of the `bitnet-b1.58` graph for tests and measurements: it shares only the
 * GGUF reader and the dequantizers with the engine, so agreement with it is evidence about the engine's math, not
 * about shared code. Optionally with bitnet.cpp's per-token int8 activations (`quantize_row_i8_s`) before every
 * ternary projection. Also the row comparison the measurements print (cosine, argmax, max relative difference).
 *
 * @module
 */

import type { GgufFile } from "../engine/gguf/mod.ts";
import { configFromGguf } from "../engine/mod.ts";
import { f32ToF16, quantFormat } from "../engine/quant/mod.ts";

/** Logit rows, one per position. */
export type Rows = Float64Array[];

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
export function forward64(file: GgufFile, ids: number[], quantizeActivations: boolean): Rows {
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

/** Split `[n][V]` logits into rows. */
export function toRows(flat: Float32Array, V: number): Rows {
  return Array.from({ length: flat.length / V }, (_, r) => Float64Array.from(flat.subarray(r * V, (r + 1) * V)));
}

/** How close two sets of rows are. */
export interface Comparison {
  readonly cosine_min: number;
  readonly cosine_mean: number;
  readonly argmax_agree: string;
  readonly max_abs_diff_rel: number;
}

/** Cosine min/mean, argmax agreement and the largest |difference| over the largest |b|. */
export function compare(a: Rows, b: Rows): Comparison {
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
