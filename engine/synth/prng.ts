/**
 * Deterministic pseudo-random numbers for synthetic models: sfc32 (Chris Doty-Humphrey's Small Fast Counting
 * generator, 128-bit state, passes PractRand to 2^40+), seeded per tensor from the model seed and the tensor name,
 * so every tensor's bytes are independent of generation order and identical on every machine (integer math only).
 *
 * @module
 */

/** FNV-1a 32-bit hash of a string's UTF-16 code units. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * splitmix32 step (Sebastiano Vigna's splitmix finaliser on 32 bits), used to expand seeds into generator state:
 * consecutive seeds give unrelated states.
 *
 * @param x Any integer; only its low 32 bits are used.
 * @returns An unsigned 32-bit integer.
 * @example
 * ```ts
 * import { splitmix32 } from "./prng.ts";
 * console.log(splitmix32(1) !== splitmix32(2)); // true
 * ```
 */
export function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A seeded sfc32 generator. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /**
   * Create a generator for one stream of a model seed.
   *
   * @param seed Model seed.
   * @param stream A name that selects an independent stream (e.g. the tensor name).
   */
  constructor(seed: number, stream = "") {
    const s0 = splitmix32(seed >>> 0);
    const s1 = splitmix32(s0 ^ fnv1a(stream));
    this.#a = s0;
    this.#b = s1;
    this.#c = splitmix32(s1);
    this.#d = 1;
    for (let i = 0; i < 16; i++) this.u32();
  }

  /** Next uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  uniform(): number {
    return this.u32() / 4294967296;
  }

  /**
   * Approximately standard-normal value: Irwin-Hall sum of 4 uniforms, rescaled to unit variance. Uses only
   * + and * so results are bit-identical everywhere (no Math.log/Math.cos, whose last bits may vary).
   */
  normal(): number {
    const s = this.uniform() + this.uniform() + this.uniform() + this.uniform() - 2;
    return s * 1.7320508075688772; // sqrt(12/4)
  }

  /** Fill `dst` with uniform random bytes. */
  fillBytes(dst: Uint8Array): void {
    const n4 = dst.length & ~3;
    const words = new Uint32Array(dst.buffer, dst.byteOffset, dst.byteOffset % 4 === 0 ? n4 / 4 : 0);
    if (words.length) {
      for (let i = 0; i < words.length; i++) words[i] = this.u32();
    } else {
      for (let i = 0; i < n4; i += 4) {
        const v = this.u32();
        dst[i] = v & 255, dst[i + 1] = (v >>> 8) & 255, dst[i + 2] = (v >>> 16) & 255, dst[i + 3] = v >>> 24;
      }
    }
    if (n4 < dst.length) {
      const v = this.u32();
      for (let i = n4; i < dst.length; i++) dst[i] = (v >>> (8 * (i - n4))) & 255;
    }
  }
}
