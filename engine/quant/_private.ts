/**
 * Internals shared by the quant formats: C rounding functions on f32 values and argument checks.
 * Not exported from `mod.ts`.
 *
 * @module
 */

/** Super-block size of the K-quants and ternary types (`QK_K`, ggml-common.h:89). */
export const QK_K = 256;

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/**
 * ggml's `nearest_int` (ggml-quants.c:621-626): adds 1.5 * 2^23 in f32 and reads the low 23 mantissa bits,
 * which is round-half-to-even for |x| <= 4194303. The f32 addition is emulated exactly: the double sum is
 * exact for an f32 `x` in that range, and `Math.fround` rounds it once, ties to even. Outside that range
 * (where the C code asserts) the same bit trick is replayed, so inf gives -4194304 and a NaN without payload
 * gives 0, exactly as the compiled C does; that matters for K-quant scales of pathological blocks.
 */
export function nearestInt(x: number): number {
  if (x <= 4194303 && x >= -4194303) return Math.fround(x + 12582912) - 12582912;
  scratchF32[0] = x + 12582912;
  return (scratchU32[0] & 0x007fffff) - 0x00400000;
}

/**
 * C `roundf` / `lroundf` on an f32 value: round half away from zero, as `trunc(x + copysign(0.5, x))`.
 * `x +- 0.5` is exact in double for any f32 below 2^52, so this does not suffer the classic `floor(x + 0.5f)` f32
 * error at 0.49999997. Branch-free on purpose: a sign test mispredicts on random data and costs 4x
 * (measured: 8.6 ms vs 1.9 ms per 2^20 values).
 */
export function roundAway(x: number): number {
  return Math.trunc(x + 0.5 * (+(x > 0) - +(x < 0)));
}

/**
 * The block maximum of ggml's reference quantizers: `amax = MAX(amax, fabsf(x[j]))` over `n` values from `from`,
 * with ggml-impl.h's `MAX(a, b) ((a) > (b) ? (a) : (b))`, including its NaN behaviour (a NaN replaces the running
 * maximum, and the next value replaces the NaN).
 */
export function absMax(src: Float32Array, from: number, n: number): number {
  let amax = 0;
  for (let j = from; j < from + n; j++) {
    const a = Math.abs(src[j]);
    amax = amax > a ? amax : a;
  }
  return amax;
}

/** Throws unless `n` is a non-negative multiple of `block` (a row of whole blocks). */
export function checkWholeBlocks(fn: string, what: string, n: number, block: number): void {
  if (n % block !== 0) {
    throw new RangeError(
      `${fn}() cannot process ${n} ${what}: not a multiple of the block size ${block}. ` +
        `Pass whole blocks (pad the row to a multiple of ${block}).`,
    );
  }
}

/** Throws unless a buffer holds at least `need` elements. */
export function checkLength(fn: string, what: string, have: number, need: number): void {
  if (have < need) {
    throw new RangeError(`${fn}() needs ${need} ${what} but got ${have}. Allocate a larger buffer.`);
  }
}

/** Little-endian DataView over exactly the bytes of `a`. */
export function viewOf(a: Uint8Array): DataView {
  return new DataView(a.buffer, a.byteOffset, a.byteLength);
}
