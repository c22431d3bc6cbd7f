/**
 * Activation quantizers for the reference backend, in the layouts of `kernels-wasm/ABI.md`:
 * - `Q8_K` rows (TQ1_0/TQ2_0/Q6_K weights): {@link quantizeRowQ8K} = `quantize_row_q8_K_ref`, which the x86 CPU
 *   backend calls directly (ggml-cpu/arch/x86/quants.c:505-507).
 * - `Q8_0` rows (Q8_0 weights): {@link quantizeRowQ8_0} = the x86 AVX/AVX2 `quantize_row_q8_0` (see `q8_0.ts`
 *   for how it differs from the `_ref` quantizer).
 * - `I8_S` rows (I2_S weights): {@link quantizeRowI8S} = bitnet.cpp's per-token int8 quantization.
 *
 * @module
 */

import { checkLength, nearestInt, viewOf } from "./_private.ts";
import { I8S_ROW_EXTRA_BYTES } from "./ggml_type.ts";

export { quantizeQ8K as quantizeRowQ8K } from "./q8_k.ts";
export { quantizeRowQ8_0 } from "./q8_0.ts";

/** Options of {@link quantizeRowI8S}. */
export interface QuantizeRowI8SOptions {
  /** Values per row `K` (default: all of `x`, one row). `x.length` must be a multiple of it. */
  rowLength?: number;
}

/**
 * Quantize activation rows to bitnet.cpp's per-token int8 (`quantize_row_i8_s`, Eddie-Wang1120/llama.cpp
 * merge-dev ggml-quants.c:3501-3520; docs/formats.md section 3). Per row of `K` values:
 * `max = max(1e-5, max|x|)` in f64, `s = (float)(127 / max)`, `q = clamp(nearest_int(x * s), -128, 127)` with the
 * product in f32 and ties to even, `sum = sum(q)`. Row `r` is written at `r * (K + 16)`: `int8 q[K]`, f32 `s` at
 * `+K`, i32 `sum` at `+K+4`, then 8 zero bytes (ABI.md "I8_S rows"). Some bitnet.cpp revisions round with C
 * `round()` (half away from zero) instead; the two differ only on exact ties.
 *
 * @param x Activations `[n_rows][K]`.
 * @param dst Destination, at least `n_rows * (K + 16)` bytes.
 * @param options `rowLength` = K.
 * @throws {RangeError} When `x.length` is not a multiple of K or `dst` is too short.
 * @example
 * ```ts
 * import { quantizeRowI8S } from "./activations.ts";
 * const x = new Float32Array([0.5, -1, 0.25, 0]);
 * const dst = new Uint8Array(4 + 16);
 * quantizeRowI8S(x, dst);
 * const v = new DataView(dst.buffer);
 * console.log(v.getInt8(0), v.getInt8(1), v.getFloat32(4, true), v.getInt32(8, true)); // 64 -127 127 -31
 * ```
 */
export function quantizeRowI8S(x: Float32Array, dst: Uint8Array, options: QuantizeRowI8SOptions = {}): void {
  const k = options.rowLength ?? x.length;
  if (!Number.isInteger(k) || k <= 0 || x.length % k !== 0) {
    throw new RangeError(
      `quantizeRowI8S() cannot split ${x.length} values into rows of ${k}. Pass rowLength = K, a divisor of x.length.`,
    );
  }
  const rows = x.length / k;
  const stride = k + I8S_ROW_EXTRA_BYTES;
  checkLength("quantizeRowI8S", "destination bytes", dst.length, rows * stride);
  const view = viewOf(dst);
  for (let r = 0; r < rows; r++) {
    const xo = r * k;
    const o = r * stride;
    let max = 0.00001;
    for (let i = 0; i < k; i++) {
      const a = Math.abs(x[xo + i]);
      max = max > a ? max : a; // C MAX(max, fabs(x)) in double
    }
    const s = Math.fround(127 / max);
    let sum = 0;
    for (let i = 0; i < k; i++) {
      let v = nearestInt(Math.fround(x[xo + i] * s));
      if (v > 127) v = 127;
      if (v < -128) v = -128;
      sum += v;
      dst[o + i] = v;
    }
    view.setFloat32(o + k, s, true);
    view.setInt32(o + k + 4, sum, true);
    dst.fill(0, o + k + 8, o + stride);
  }
}
