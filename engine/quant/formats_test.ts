import assert from "node:assert/strict";
import { QUANT_FORMATS, quantFormat } from "./formats.ts";
import { GgmlType, ggmlTypeInfo } from "./ggml_type.ts";
import { makeData } from "./_testing.ts";

// Block sizes from the C structs (ggml-common.h): sum of the member sizes.
const STRUCT_BYTES: Record<number, [number, number]> = {
  [GgmlType.F32]: [1, 4],
  [GgmlType.F16]: [1, 2],
  [GgmlType.BF16]: [1, 2],
  [GgmlType.Q8_0]: [32, 2 + 32], // d, qs[32]
  [GgmlType.Q6_K]: [256, 128 + 64 + 16 + 2], // ql, qh, scales, d
  [GgmlType.Q8_K]: [256, 4 + 256 + 16 * 2], // d, qs, bsums
  [GgmlType.TQ1_0]: [256, 48 + 4 + 2], // qs, qh, d
  [GgmlType.TQ2_0]: [256, 64 + 2], // qs, d
  [GgmlType.I2_S]: [128, 128 / 4], // 2 bits per weight (+ a 32-byte tail per tensor)
};

Deno.test("QUANT_FORMATS holds exactly the supported types with the C block geometry", () => {
  assert.deepEqual(
    [...QUANT_FORMATS.keys()].sort((a, b) => a - b),
    Object.keys(STRUCT_BYTES).map(Number).sort((a, b) => a - b),
  );
  for (const [id, f] of QUANT_FORMATS) {
    assert.equal(f.id, id);
    assert.deepEqual([f.blockSize, f.typeSize], STRUCT_BYTES[id], f.name);
    assert.equal(f.name, ggmlTypeInfo(id)!.name);
    assert.equal(f.tensorTailBytes, id === GgmlType.I2_S ? 32 : 0);
    assert.ok(Object.isFrozen(f));
  }
});

Deno.test("quantFormat() throws a RangeError naming an unsupported type", () => {
  assert.equal(quantFormat(GgmlType.TQ2_0).name, "TQ2_0");
  assert.throws(
    () => quantFormat(GgmlType.Q4_0),
    (e) => e instanceof RangeError && /type Q4_0 \(id 2\)/.test(e.message),
  );
  assert.throws(() => quantFormat(99), /type type99 \(id 99\).*TQ2_0 \(35\)/);
});

// Worst-case absolute error of one round trip, from each format's definition (amax = block absmax).
function bound(id: number, amax: number, x: number): number {
  switch (id) {
    case GgmlType.F32:
      return 0;
    case GgmlType.F16:
      return Math.max(Math.abs(x) * 2 ** -11, 2 ** -25);
    case GgmlType.BF16:
      return Math.abs(x) * 2 ** -8;
    case GgmlType.Q8_0: // half a step of d = amax/127, with d rounded to f16
      return (amax / 127) * (0.5 + 2 ** -10) + amax * 2 ** -10;
    case GgmlType.Q8_K:
      return (amax / 127) * 0.5 * (1 + 1e-6);
    case GgmlType.Q6_K: // 6-bit codes with an 8-bit sub-scale: a loose step bound
      return amax / 16;
    default:
      return amax; // ternary formats only represent {-d, 0, d}: error <= amax
  }
}

Deno.test("every format's dequantize(quantize(x)) stays within its quantization step", () => {
  for (const [id, f] of QUANT_FORMATS) {
    const n = 1024;
    const x = makeData("gaussian", n, id + 1);
    const bytes = new Uint8Array((n / f.blockSize) * f.typeSize + f.tensorTailBytes);
    f.quantize(x, bytes);
    const y = new Float32Array(n);
    f.dequantize(bytes, y);
    const block = id === GgmlType.I2_S ? n : Math.max(f.blockSize, 1);
    for (let b = 0; b < n; b += block) {
      let amax = 0;
      for (let i = b; i < b + block; i++) amax = Math.max(amax, Math.abs(x[i]));
      for (let i = b; i < b + block; i++) {
        assert.ok(Math.abs(y[i] - x[i]) <= bound(id, amax, x[i]), `${f.name}[${i}]: ${x[i]} -> ${y[i]}`);
      }
    }
  }
});

Deno.test("every block format reproduces ternary weights exactly when the scale is f16-exact", () => {
  // (t - 1) * 0.75 with 0.75 exact in f16: ternary formats store d = 0.75 and codes exactly; F16/BF16 hold 0.75.
  // (Q8_0 is not exact here: its d = 0.75 / 127 is rounded to f16.)
  const n = 512;
  const x = new Float32Array(n).map((_, i) => ((i * 7) % 3 - 1) * 0.75);
  for (const id of [GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.I2_S, GgmlType.F16, GgmlType.BF16]) {
    const f = quantFormat(id);
    const bytes = new Uint8Array((n / f.blockSize) * f.typeSize + f.tensorTailBytes);
    f.quantize(x, bytes);
    const y = new Float32Array(n);
    f.dequantize(bytes, y);
    assert.deepEqual(y, x, f.name);
  }
});

Deno.test("formats reject partial blocks and short buffers", () => {
  for (const [id, f] of QUANT_FORMATS) {
    if (f.blockSize === 1) continue;
    assert.throws(() => f.quantize(new Float32Array(f.blockSize + 1), new Uint8Array(1 << 12)), RangeError, `${id}`);
    assert.throws(() => f.dequantize(new Uint8Array(f.typeSize - 1), new Float32Array(f.blockSize)), RangeError);
  }
});
