import assert from "node:assert/strict";
import { GgufFile } from "../gguf/file.ts";
import { GgufValueType } from "../gguf/types.ts";
import { encodeGguf } from "../gguf/writer.ts";
import { f16BitsToF32Bits } from "../quant/fp16.ts";
import { quantFormat } from "../quant/formats.ts";
import { GgmlType } from "../quant/ggml_type.ts";
import { TRANSCODE_METHOD, transcodeToFloat } from "./transcode_float.ts";

/** A GGUF with one I2_S matrix of scale `scale` (ternary pattern from a counter), one F32 norm and one F16 tensor. */
function ternaryFile(scale: number, type: number = GgmlType.I2_S): { bytes: Uint8Array; values: Float32Array } {
  const K = 256, N = 4;
  const values = new Float32Array(K * N);
  for (let i = 0; i < values.length; i++) values[i] = (((i * 7) % 3) - 1) * scale;
  const fmt = quantFormat(type);
  const q = new Uint8Array((values.length / fmt.blockSize) * fmt.typeSize + fmt.tensorTailBytes);
  fmt.quantize(values, q);
  const norm = new Float32Array(K).map((_, i) => 1 + i / 1000);
  const half = new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7bff]);
  const bytes = encodeGguf({
    metadata: [
      ["general.architecture", { type: GgufValueType.STRING, value: "bitnet-b1.58" }],
      ["general.file_type", { type: GgufValueType.UINT32, value: 40 }],
    ],
    tensors: [
      { name: "blk.0.ffn_up.weight", shape: [K, N], type, data: q },
      { name: "blk.0.ffn_norm.weight", shape: [K], type: GgmlType.F32, data: new Uint8Array(norm.buffer) },
      { name: "token_embd.weight", shape: [4], type: GgmlType.F16, data: new Uint8Array(half.buffer) },
    ],
  });
  const back = new Float32Array(values.length);
  fmt.dequantize(q, back);
  return { bytes, values: back };
}

async function roundTrip(bytes: Uint8Array, to: "f32" | "f16") {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/in.gguf`, bytes);
    const record = await transcodeToFloat(`${dir}/in.gguf`, `${dir}/out.gguf`, { to });
    const out = await Deno.readFile(`${dir}/out.gguf`);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["in.gguf", "out.gguf"], "no temp left");
    const { createHash } = await import("node:crypto");
    assert.equal(record.sha256, createHash("sha256").update(out).digest("hex"), "the record hashes the file written");
    return { record, out: GgufFile.fromBytes(out), src: GgufFile.fromBytes(bytes) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("transcodeToFloat() writes I2_S weights as the exact F32 values of the dequantizer", async () => {
  const { bytes, values } = ternaryFile(0.13258251547813416);
  const { record, out, src } = await roundTrip(bytes, "f32");
  const t = out.tensor("blk.0.ffn_up.weight")!;
  assert.equal(t.type, GgmlType.F32);
  assert.deepEqual(t.shape, [256, 4]);
  const got = new Float32Array(out.readTensor(t.name).slice().buffer);
  assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(values.buffer));
  assert.deepEqual(out.readTensor("blk.0.ffn_norm.weight"), src.readTensor("blk.0.ffn_norm.weight"));
  assert.deepEqual(out.readTensor("token_embd.weight"), src.readTensor("token_embd.weight"));
  assert.equal(out.tensor("token_embd.weight")!.type, GgmlType.F16);
  assert.equal(out.getString("general.architecture"), "bitnet-b1.58");
  assert.equal(out.getString("crossval.transcode.to"), "f32");
  assert.equal(out.getNumber("general.file_type"), 0, "LLAMA_FTYPE_ALL_F32");
  assert.deepEqual({ ...record, sha256: undefined }, {
    sha256: undefined,
    kind: "float",
    to: "f32",
    from_types: { I2_S: 1 },
    tensors: ["blk.0.ffn_up.weight"],
    lossless: true,
    method: TRANSCODE_METHOD,
  });
});

Deno.test("transcodeToFloat() writes F16 when every value is an f16 number, bit for bit", async () => {
  const { bytes, values } = ternaryFile(0.5);
  const { out } = await roundTrip(bytes, "f16");
  const t = out.tensor("blk.0.ffn_up.weight")!;
  assert.equal(t.type, GgmlType.F16);
  const h = new Uint16Array(out.readTensor(t.name).slice().buffer);
  const back = new Uint32Array(h.length).map((_, i) => f16BitsToF32Bits(h[i]));
  assert.deepEqual(back, new Uint32Array(values.buffer));
});

Deno.test("transcodeToFloat() refuses a lossy F16 transcode, naming the tensor and F32, and writes nothing", async () => {
  const { bytes } = ternaryFile(0.1);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/in.gguf`, bytes);
    await assert.rejects(
      () => transcodeToFloat(`${dir}/in.gguf`, `${dir}/out.gguf`, { to: "f16" }),
      (e: Error) =>
        e instanceof RangeError && /blk\.0\.ffn_up\.weight .*not an f16 number.*F32 instead/.test(e.message),
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["in.gguf"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("transcodeToFloat() transcodes TQ2_0 blocks (f16 scales) exactly to F16 and F32", async () => {
  const { bytes, values } = ternaryFile(0.1, GgmlType.TQ2_0);
  const f32 = await roundTrip(bytes, "f32");
  const got = new Float32Array(f32.out.readTensor("blk.0.ffn_up.weight").slice().buffer);
  assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(values.buffer));
  assert.deepEqual(f32.record.from_types, { TQ2_0: 1 });
  const f16 = await roundTrip(bytes, "f16");
  assert.equal(f16.out.tensor("blk.0.ffn_up.weight")!.type, GgmlType.F16);
});
