import assert from "node:assert/strict";
import {
  I2S_TAIL_BYTES,
  packI2S,
  packI2SRef,
  packTq1_0,
  packTq1_0Ref,
  packTq2_0,
  packTq2_0Ref,
  unpackTernary,
} from "./ternary.ts";
import { quantizeTq2_0 } from "./tq2_0.ts";
import { quantizeTq1_0 } from "./tq1_0.ts";
import { quantizeI2S } from "./i2_s.ts";
import { f16ToF32, f32ToF16 } from "./fp16.ts";
import { GgmlType } from "./ggml_type.ts";
import { Rng } from "./_testing.ts";

// Random codes in {0,1,2}; every 5th block all 1 (zero weights) to exercise the d = 0 rule.
function randomCodes(n: number, seed: number): Uint8Array {
  const r = new Rng(seed);
  const c = new Uint8Array(n);
  for (let i = 0; i < n; i++) c[i] = ((i >>> 8) % 5 === 3) ? 1 : r.int(3);
  return c;
}

function randomScales(nb: number, seed: number): Float32Array {
  const r = new Rng(seed);
  // Not f16-representable in general: the packers must round them exactly like quantize does.
  return new Float32Array(nb).map(() => 1e-3 + r.float() * 4);
}

// Weights (code - 1) * scale, one scale per 256 block.
function weights(codes: Uint8Array, scales: Float32Array): Float32Array {
  const x = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) x[i] = (codes[i] - 1) * scales[i >>> 8];
  return x;
}

const SIZES = [256, 512, 256 * 7, 256 * 64];

Deno.test("packTq2_0() writes the same bytes as quantizeTq2_0() on ternary weights", () => {
  for (const n of SIZES) {
    const codes = randomCodes(n, n);
    const scales = randomScales(n / 256, n + 1);
    const packed = new Uint8Array(n / 256 * 66);
    packTq2_0(codes, scales, packed);
    const quant = new Uint8Array(packed.length);
    quantizeTq2_0(weights(codes, scales), quant);
    assert.deepEqual(packed, quant, `n=${n}`);
  }
});

Deno.test("packTq1_0() writes the same bytes as quantizeTq1_0() on ternary weights", () => {
  for (const n of SIZES) {
    const codes = randomCodes(n, n + 2);
    const scales = randomScales(n / 256, n + 3);
    const packed = new Uint8Array(n / 256 * 54);
    packTq1_0(codes, scales, packed);
    const quant = new Uint8Array(packed.length);
    quantizeTq1_0(weights(codes, scales), quant);
    assert.deepEqual(packed, quant, `n=${n}`);
  }
});

Deno.test("packI2S() writes the same bytes as quantizeI2S() on ternary weights", () => {
  for (const n of [128, 384, 256 * 64]) {
    const codes = randomCodes(n, n + 4);
    const scale = Math.fround(2.1631613);
    const packed = new Uint8Array(n / 4 + I2S_TAIL_BYTES).fill(0xee);
    packI2S(codes, scale, packed);
    const quant = new Uint8Array(packed.length).fill(0xcc);
    quantizeI2S(weights(codes, new Float32Array(n / 256 + 1).fill(scale)), quant);
    assert.deepEqual(packed, quant, `n=${n}`);
  }
});

Deno.test("packers give d = 0 for an all-zero block or tensor, like the reference quantizers", () => {
  const codes = new Uint8Array(512).fill(1);
  codes[300] = 2;
  const tq2 = new Uint8Array(132);
  packTq2_0(codes, new Float32Array([3, 3]), tq2);
  assert.deepEqual([tq2[64], tq2[65]], [0, 0]);
  assert.equal(tq2[66 + 64] | (tq2[66 + 65] << 8), f32ToF16(3));
  const tq1 = new Uint8Array(108);
  packTq1_0(codes, new Float32Array([3, 3]), tq1);
  assert.deepEqual([tq1[52], tq1[53], tq1[54 + 52]], [0, 0, f32ToF16(3) & 0xff]);
  const i2 = new Uint8Array(128 / 4 + 32);
  packI2S(new Uint8Array(128).fill(1), 5, i2);
  assert.equal(new DataView(i2.buffer).getFloat32(32, true), 0);
});

Deno.test("fast packers equal their scalar twins, also on unaligned buffers", () => {
  const n = 256 * 9;
  const codes = randomCodes(n, 99);
  const scales = randomScales(9, 100);
  // A copy of the codes at byte offset 1 forces the scalar path of the fast function.
  const shifted = new Uint8Array(n + 1).subarray(1);
  shifted.set(codes);
  const pairs: Array<[string, (c: Uint8Array, d: Uint8Array) => void, (c: Uint8Array, d: Uint8Array) => void, number]> =
    [
      ["tq2_0", (c, d) => packTq2_0(c, scales, d), (c, d) => packTq2_0Ref(c, scales, d), n / 256 * 66],
      ["tq1_0", (c, d) => packTq1_0(c, scales, d), (c, d) => packTq1_0Ref(c, scales, d), n / 256 * 54],
      ["i2_s", (c, d) => packI2S(c, 0.75, d), (c, d) => packI2SRef(c, 0.75, d), n / 4 + 32],
    ];
  for (const [name, fast, ref, bytes] of pairs) {
    const a = new Uint8Array(bytes), b = new Uint8Array(bytes), c = new Uint8Array(bytes);
    const oddDst = new Uint8Array(bytes + 1).subarray(1);
    fast(codes, a);
    ref(codes, b);
    fast(shifted, c);
    fast(codes, oddDst);
    assert.deepEqual(a, b, name);
    assert.deepEqual(c, b, `${name} unaligned codes`);
    assert.deepEqual(oddDst, b, `${name} unaligned destination`);
  }
});

Deno.test("unpackTernary() inverts every packer and returns the stored scales", () => {
  const n = 256 * 6;
  const codes = randomCodes(n, 5);
  const scales = randomScales(6, 6);
  const back = new Uint8Array(n);
  for (const [type, bytes] of [[GgmlType.TQ2_0, 66], [GgmlType.TQ1_0, 54]] as const) {
    const packed = new Uint8Array(n / 256 * bytes);
    (type === GgmlType.TQ2_0 ? packTq2_0 : packTq1_0)(codes, scales, packed);
    back.fill(9);
    const s = unpackTernary(type, packed, back);
    assert.deepEqual(back, codes, `type ${type}`);
    for (let b = 0; b < 6; b++) {
      const want = b % 5 === 3 ? 0 : f16ToF32(f32ToF16(scales[b]));
      assert.equal(s[b], want, `type ${type} block ${b}`);
    }
  }
  const i2 = new Uint8Array(n / 4 + 32);
  packI2S(codes, 1.25, i2);
  back.fill(9);
  assert.deepEqual([...unpackTernary(GgmlType.I2_S, i2, back)], [1.25]);
  assert.deepEqual(back, codes);
});

Deno.test("unpackTernary() decodes every TQ1_0 byte value of a 5-trit group like ggml's pow3 trick", () => {
  // Pack each of the 243 five-trit groups into qs[0] and check the round trip trit by trit.
  const codes = new Uint8Array(256).fill(1);
  const packed = new Uint8Array(54);
  const back = new Uint8Array(256);
  for (let q = 0; q < 243; q++) {
    const t = [Math.floor(q / 81) % 3, Math.floor(q / 27) % 3, Math.floor(q / 9) % 3, Math.floor(q / 3) % 3, q % 3];
    for (let k = 0; k < 5; k++) codes[k * 32] = t[k];
    packTq1_0(codes, new Float32Array([1]), packed);
    assert.equal(packed[0], Math.ceil(q * 256 / 243));
    unpackTernary(GgmlType.TQ1_0, packed, back);
    for (let k = 0; k < 5; k++) assert.equal(back[k * 32], t[k], `q=${q} trit ${k}`);
  }
});

Deno.test("packers reject codes outside {0, 1, 2} naming the index", () => {
  const codes = new Uint8Array(256).fill(1);
  codes[77] = 3;
  assert.throws(() => packTq2_0(codes, new Float32Array(1), new Uint8Array(66)), /code 3 at index 77/);
  assert.throws(() => packTq1_0(codes, new Float32Array(1), new Uint8Array(54)), /code 3 at index 77/);
  assert.throws(() => packI2S(codes, 1, new Uint8Array(96)), /code 3 at index 77/);
  codes[77] = 1;
  codes[200] = 255;
  assert.throws(() => packTq2_0(codes, new Float32Array(1), new Uint8Array(66)), /code 255 at index 200/);
  assert.throws(() => packTq2_0Ref(codes, new Float32Array(1), new Uint8Array(66)), /code 255 at index 200/);
  assert.throws(() => packTq1_0(codes, new Float32Array(1), new Uint8Array(54)), /code 255 at index 200/);
});

Deno.test("packers and unpackTernary() reject partial blocks, short buffers and non-ternary types", () => {
  assert.throws(
    () => packTq2_0(new Uint8Array(100), new Float32Array(1), new Uint8Array(66)),
    /multiple of the block size 256/,
  );
  assert.throws(() => packTq2_0(new Uint8Array(512), new Float32Array(1), new Uint8Array(132)), /scales/);
  assert.throws(() => packTq1_0(new Uint8Array(256), new Float32Array(1), new Uint8Array(53)), /destination bytes/);
  assert.throws(() => packI2S(new Uint8Array(128), 1, new Uint8Array(63)), /destination bytes/);
  assert.throws(() => unpackTernary(GgmlType.Q8_0, new Uint8Array(34), new Uint8Array(32)), /cannot unpack type Q8_0/);
  assert.throws(() => unpackTernary(GgmlType.TQ2_0, new Uint8Array(65), new Uint8Array(256)), RangeError);
});
