// The lossless transcode proved element for element, three ways: our I2_S dequantizer (engine/quant), the F32
// file our transcode writes (engine/convert/transcode_float.ts), and ik_llama.cpp's own conversions of the same
// tensor (its `dequantize_row_ms_i2s`, its requantizer to F32, and its IQ2_BN codes dequantized back), which share
// no code with ours. Equal bits everywhere mean the reference computes exactly the weights the model holds.
import assert from "node:assert/strict";
import { transcodeToFloat } from "../engine/convert/transcode_float.ts";
import { GgufFile } from "../engine/gguf/mod.ts";
import { quantFormat } from "../engine/quant/mod.ts";
import { GgmlType } from "../engine/quant/ggml_type.ts";
import { fixtureModel, withTempDir } from "./_fixtures.ts";
import { f32, ikConnection, ok } from "./_reference.ts";

function ours(file: GgufFile, name: string): Float32Array {
  const t = file.tensor(name)!;
  const out = new Float32Array(t.nElements);
  quantFormat(t.type).dequantize(file.readTensor(name), out);
  return out;
}

/** Bit-for-bit equality of two f32 arrays; on a difference, the first index and both values (not a huge diff). */
function assertSameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let diff = 0, first = -1;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) diff++, first = first < 0 ? i : first;
  assert.equal(diff, 0, `${what}: ${diff} of ${x.length} values differ, first at ${first}: ${a[first]} vs ${b[first]}`);
}

Deno.test("the F32 transcode of an I2_S model holds exactly ik_llama.cpp's and our dequantized weights", async () => {
  await withTempDir("ikref-transcode-", async (dir) => {
    const src = await fixtureModel({ arch: "bitnet-b1.58", type: "i2_s", embd: 512 });
    const out = `${dir}/f32.gguf`;
    const record = await transcodeToFloat(src, out);
    assert.deepEqual(record.from_types, { I2_S: 28 });
    await using c = await ikConnection();
    const ikF32 = `${dir}/ik-f32.gguf`, ikBn = `${dir}/ik-iq2bn.gguf`;
    ok(await c.request("quantize", { path: src, out: ikF32, ftype: 0, threads: 2 })); // LLAMA_FTYPE_ALL_F32
    ok(await c.request("quantize", { path: src, out: ikBn, ftype: 137, threads: 2 })); // LLAMA_FTYPE_MOSTLY_IQ2_BN
    using a = GgufFile.open(src);
    using b = GgufFile.open(out);
    let n = 0;
    for (const t of a.tensors.filter((t) => t.type === GgmlType.I2_S)) {
      const mine = ours(a, t.name);
      const written = new Float32Array(b.readTensor(t.name).slice().buffer);
      assert.equal(b.tensor(t.name)!.type, GgmlType.F32);
      assertSameBits(written, mine, `${t.name}: our transcode vs our dequantizer`);
      const ikOwn = ok(await c.request("dequantize", { path: src, tensor: t.name }));
      assert.equal(ikOwn.header.type, "i2_s");
      assertSameBits(f32(ikOwn.payload), mine, `${t.name}: ik_llama.cpp's I2_S dequantizer`);
      const ikRequant = ok(await c.request("dequantize", { path: ikF32, tensor: t.name }));
      assert.equal(ikRequant.header.type, "f32");
      assertSameBits(f32(ikRequant.payload), mine, `${t.name}: ik_llama.cpp's F32 requantization`);
      const ikBnBack = ok(await c.request("dequantize", { path: ikBn, tensor: t.name }));
      assert.equal(ikBnBack.header.type, "iq2_bn");
      assertSameBits(f32(ikBnBack.payload), mine, `${t.name}: ik_llama.cpp's IQ2_BN, dequantized`);
      n++;
    }
    assert.equal(n, 28);
    // Everything else is copied byte for byte.
    for (const t of a.tensors.filter((t) => t.type !== GgmlType.I2_S)) {
      assert.deepEqual(b.readTensor(t.name), a.readTensor(t.name), t.name);
    }
  });
});

Deno.test("the F32 transcode of a TQ2_0 model holds exactly our dequantized weights", async () => {
  await withTempDir("ikref-transcode-tq2-", async (dir) => {
    const src = await fixtureModel({ arch: "bitnet-b1.58", type: "tq2_0" });
    const out = `${dir}/f32.gguf`;
    const record = await transcodeToFloat(src, out);
    assert.deepEqual(record.from_types, { TQ2_0: 28 });
    using a = GgufFile.open(src);
    using b = GgufFile.open(out);
    for (const name of record.tensors) {
      assertSameBits(new Float32Array(b.readTensor(name).slice().buffer), ours(a, name), name);
    }
  });
});
