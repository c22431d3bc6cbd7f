/**
 * The RoPE cos/sin table, computed exactly as ggml's CPU backend builds its rope cache
 * (`ggml/src/ggml-cpu/ops.cpp`, `ggml_rope_cache_init` and `ggml_compute_forward_rope_flt`):
 *
 * - `theta_scale = powf(freq_base, -2.0f/n_dims)` in f32;
 * - per position `p`: `theta = (float)p`, then for each pair `theta *= theta_scale` (repeated f32 products, not
 *   `p * theta_scale^j`);
 * - `cos = cosf(freq_scale * (theta / ff_j)) * mscale`, `sin` likewise (`rope_yarn` with YaRN off:
 *   `ext_factor = 0`, as llama.cpp sets it without YaRN scaling), with glibc's `cosf`/`sinf` reproduced bit for
 *   bit (`sincosf.ts`; a correctly rounded cosine differs from glibc's in ~3% of angles). `ff_j` are the optional
 *   per-pair frequency factors (`rope_freqs.weight`, Llama 3's rope scaling; 1 without), `mscale` llama.cpp's
 *   `attn_factor` (1 unless `rope.scaling.attn_factor` says otherwise).
 *
 * Layout (kernels-wasm/ABI.md): `[n_pos][R]`, each row holding R/2 cosines then R/2 sines.
 *
 * @module
 */

import { cosf, sinf } from "./sincosf.ts";

const fr = Math.fround;

/** Options of {@link ropeTable}. */
export interface RopeTableOptions {
  /** First position of the table. Default 0. */
  readonly pos0?: number;
  /** R: rotated dimensions per head (even). */
  readonly nRot: number;
  /** `rope.freq_base`. */
  readonly freqBase: number;
  /** Frequency scale (1 / linear factor). Default 1. */
  readonly freqScale?: number;
  /** Per-pair frequency factors `ff_j` (R/2 values, `rope_freqs.weight`); default none (all 1). */
  readonly freqFactors?: Float32Array;
  /** `attn_factor` multiplying every cosine and sine (f32). Default 1. */
  readonly attnFactor?: number;
}

/**
 * Fill a RoPE table for consecutive positions.
 *
 * @param dest Destination of `n_pos * R` floats; `n_pos = dest.length / R` positions are written.
 * @param opts Rotation parameters.
 * @returns `dest`.
 * @throws {RangeError} When R is not even, `dest` is not a whole number of rows, or `freqFactors` is not R/2 long.
 * @example
 * ```ts
 * import { ropeTable } from "./rope.ts";
 * const t = ropeTable(new Float32Array(2 * 4), { nRot: 4, freqBase: 10000 });
 * console.log(t[4], t[6]); // position 1: cosf(1), sinf(1): 0.5403022766113281 0.8414709568023682
 * ```
 */
export function ropeTable(dest: Float32Array, opts: RopeTableOptions): Float32Array {
  const nRot = opts.nRot;
  if (nRot <= 0 || nRot % 2 !== 0 || dest.length % nRot !== 0) {
    throw new RangeError(
      `Cannot build a RoPE table with nRot=${nRot} into ${dest.length} floats: nRot must be even and divide the length`,
    );
  }
  const half = nRot / 2;
  const ff = opts.freqFactors, mscale = fr(opts.attnFactor ?? 1);
  if (ff && ff.length !== half) {
    throw new RangeError(
      `Cannot build a RoPE table with ${ff.length} frequency factors: rope_freqs must hold nRot/2 = ${half}`,
    );
  }
  const thetaScale = fr(Math.pow(fr(opts.freqBase), fr(-2 / nRot)));
  const freqScale = fr(opts.freqScale ?? 1);
  const nPos = dest.length / nRot;
  const pos0 = opts.pos0 ?? 0;
  for (let i = 0; i < nPos; i++) {
    let theta = fr(pos0 + i);
    const row = i * nRot;
    for (let j = 0; j < half; j++) {
      const t = fr(freqScale * (ff ? fr(theta / ff[j]) : theta));
      dest[row + j] = mscale === 1 ? cosf(t) : fr(cosf(t) * mscale);
      dest[row + half + j] = mscale === 1 ? sinf(t) : fr(sinf(t) * mscale);
      theta = fr(theta * thetaScale);
    }
  }
  return dest;
}
