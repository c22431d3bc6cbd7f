/**
 * Throughput of the quant formats: `deno bench engine/quant/quant_bench.ts`.
 * Each case converts N = 2^20 values (4 MiB of f32); MB/s = 4.194 MB / (time per iteration).
 */
import { QUANT_FORMATS } from "./formats.ts";
import { activationRowBytes, ggmlTensorBytes, GgmlType } from "./ggml_type.ts";
import { bf16ToF32Row, f16ToF32Row, f32ToBf16Row, f32ToF16Row } from "./fp16.ts";
import { packI2S, packTq1_0, packTq2_0 } from "./ternary.ts";
import { quantizeRowI8S, quantizeRowQ8_0, quantizeRowQ8K } from "./activations.ts";
import { makeData, Rng } from "./_testing.ts";

const N = 1 << 20;
const x = makeData("gaussian", N, 1);

for (const f of QUANT_FORMATS.values()) {
  const bytes = new Uint8Array((N / f.blockSize) * f.typeSize + f.tensorTailBytes);
  f.quantize(x, bytes);
  const y = new Float32Array(N);
  Deno.bench(`quantize ${f.name}`, { group: "quantize" }, () => f.quantize(x, bytes));
  Deno.bench(`dequantize ${f.name}`, { group: "dequantize" }, () => f.dequantize(bytes, y));
}

const h = new Uint16Array(N);
const y = new Float32Array(N);
Deno.bench("f32ToF16Row", { group: "fp16" }, () => f32ToF16Row(x, h));
Deno.bench("f16ToF32Row", { group: "fp16" }, () => f16ToF32Row(h, y));
Deno.bench("f32ToBf16Row", { group: "fp16" }, () => f32ToBf16Row(x, h));
Deno.bench("bf16ToF32Row", { group: "fp16" }, () => bf16ToF32Row(h, y));

const r = new Rng(2);
const codes = new Uint8Array(N).map(() => r.int(3));
const scales = new Float32Array(N / 256).fill(0.5);
const tq2 = new Uint8Array(ggmlTensorBytes(GgmlType.TQ2_0, N)),
  tq1 = new Uint8Array(ggmlTensorBytes(GgmlType.TQ1_0, N));
const i2 = new Uint8Array(ggmlTensorBytes(GgmlType.I2_S, N));
Deno.bench("packTq2_0", { group: "pack" }, () => packTq2_0(codes, scales, tq2));
Deno.bench("packTq1_0", { group: "pack" }, () => packTq1_0(codes, scales, tq1));
Deno.bench("packI2S", { group: "pack" }, () => packI2S(codes, 0.5, i2));

const q8k = new Uint8Array(activationRowBytes("q8_k", N)),
  q80 = new Uint8Array(activationRowBytes("q8_0", N)),
  i8s = new Uint8Array(N + 16 * (N / 2560 + 1));
const rows = x.subarray(0, 2560 * Math.floor(N / 2560));
Deno.bench("quantizeRowQ8K", { group: "activations" }, () => quantizeRowQ8K(x, q8k));
Deno.bench("quantizeRowQ8_0", { group: "activations" }, () => quantizeRowQ8_0(x, q80));
Deno.bench("quantizeRowI8S (K = 2560)", { group: "activations" }, () => quantizeRowI8S(rows, i8s, { rowLength: 2560 }));
