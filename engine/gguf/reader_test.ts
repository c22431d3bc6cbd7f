import assert from "node:assert/strict";
import { bytesSource, encodeGguf, GgufFile, type GgufKv, GgufValueType as T, parseGgufHeader } from "./mod.ts";
import { GgmlType } from "../quant/ggml_type.ts";

const kv = (type: number, value: unknown): GgufKv => ({ type, value } as GgufKv);

function sample(): Uint8Array {
  return encodeGguf({
    metadata: [
      ["general.architecture", kv(T.STRING, "bitnet")],
      ["u8", kv(T.UINT8, 200)],
      ["i8", kv(T.INT8, -5)],
      ["u16", kv(T.UINT16, 60000)],
      ["i16", kv(T.INT16, -30000)],
      ["u32", kv(T.UINT32, 4000000000)],
      ["i32", kv(T.INT32, -2000000000)],
      ["f32", kv(T.FLOAT32, 0.5)],
      ["b", kv(T.BOOL, true)],
      ["u64", kv(T.UINT64, 1n << 60n)],
      ["i64", kv(T.INT64, -(1n << 60n))],
      ["f64", kv(T.FLOAT64, Math.PI)],
      ["strs", kv(T.ARRAY, { itemType: T.STRING, items: ["a", "", "héllo"] })],
      ["ints", kv(T.ARRAY, { itemType: T.INT32, items: new Int32Array([1, -2, 3]) })],
      ["nested", kv(T.ARRAY, { itemType: T.ARRAY, items: [{ itemType: T.UINT8, items: new Uint8Array([1, 2]) }] })],
    ],
    tensors: [
      {
        name: "a",
        shape: [4, 2],
        type: GgmlType.F32,
        data: new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer),
      },
      { name: "b", shape: [256], type: GgmlType.TQ2_0, data: new Uint8Array(66).fill(0x55) },
    ],
  });
}

Deno.test("parseGgufHeader() round-trips every metadata value type and tensor", () => {
  const f = GgufFile.fromBytes(sample());
  assert.deepEqual(f.header.version, 3);
  assert.deepEqual(f.architecture, "bitnet");
  assert.deepEqual(f.getNumber("u8"), 200);
  assert.deepEqual(f.getNumber("i8"), -5);
  assert.deepEqual(f.getNumber("u16"), 60000);
  assert.deepEqual(f.getNumber("i16"), -30000);
  assert.deepEqual(f.getNumber("u32"), 4000000000);
  assert.deepEqual(f.getNumber("i32"), -2000000000);
  assert.deepEqual(f.getNumber("f32"), 0.5);
  assert.deepEqual(f.getBool("b"), true);
  assert.deepEqual(f.get("u64")!.value, 1n << 60n);
  assert.deepEqual(f.get("i64")!.value, -(1n << 60n));
  assert.deepEqual(f.getNumber("f64"), Math.PI);
  assert.deepEqual(f.getArray("strs")!.items, ["a", "", "héllo"]);
  assert.deepEqual([...(f.getArray("ints")!.items as Int32Array)], [1, -2, 3]);
  const nested = f.getArray("nested")!.items[0] as { items: Uint8Array };
  assert.deepEqual([...nested.items], [1, 2]);
  assert.deepEqual(f.tensors.map((t) => [t.name, t.shape, t.byteLength]), [["a", [4, 2], 32], ["b", [256], 66]]);
  assert.deepEqual([...new Float32Array(f.readTensor("a").slice().buffer)], [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(f.readTensor("b")[10], 0x55);
  assert.deepEqual(f.header.dataOffset % 32, 0);
});

Deno.test("GgufFile.open() reads tensors lazily from disk into a caller buffer", async () => {
  const path = await Deno.makeTempFile({ suffix: ".gguf" });
  await Deno.writeFile(path, sample());
  using f = GgufFile.open(path);
  const dest = new Uint8Array(66);
  assert.deepEqual(f.readTensor("b", dest), dest);
  assert.deepEqual(dest[65], 0x55);
  assert.throws(() => f.readTensor("b", new Uint8Array(3)), {
    name: "RangeError",
    message: /destination\ has\ 3\ bytes/,
  });
  assert.throws(() => f.readTensor("zz"), { name: "RangeError", message: /no\ such\ tensor/ });
  await Deno.remove(path);
});

function patch(bytes: Uint8Array, at: number, write: (v: DataView) => void): Uint8Array {
  const b = bytes.slice();
  write(new DataView(b.buffer, at));
  return b;
}

Deno.test("parseGgufHeader() rejects a wrong magic, naming what it found", () => {
  const b = sample().slice();
  b.set(new TextEncoder().encode("GGML"), 0);
  assert.throws(() => parseGgufHeader(bytesSource(b)), {
    name: "SyntaxError",
    message: /expected\ magic\ "GGUF"\ at\ offset\ 0,\ got\ "GGML"/,
  });
});

Deno.test("parseGgufHeader() rejects unsupported versions", () => {
  assert.throws(() => parseGgufHeader(bytesSource(patch(sample(), 4, (v) => v.setUint32(0, 1, true)))), {
    name: "RangeError",
    message: /version\ 1/,
  });
  assert.throws(() => parseGgufHeader(bytesSource(patch(sample(), 4, (v) => v.setUint32(0, 7, true)))), {
    name: "RangeError",
    message: /unsupported\ version\ 7/,
  });
  assert.throws(() => parseGgufHeader(bytesSource(patch(sample(), 4, (v) => v.setUint32(0, 3 << 24, true)))), {
    name: "RangeError",
    message: /big\-endian/,
  });
});

Deno.test("parseGgufHeader() rejects absurd counts before allocating", () => {
  assert.throws(() => parseGgufHeader(bytesSource(patch(sample(), 8, (v) => v.setBigUint64(0, 1n << 40n, true)))), {
    name: "RangeError",
    message: /tensor\ count\ at\ offset\ 8/,
  });
  assert.throws(() => parseGgufHeader(bytesSource(patch(sample(), 16, (v) => v.setBigUint64(0, 1n << 62n, true)))), {
    name: "RangeError",
    message: /metadata\ count\ at\ offset\ 16/,
  });
});

Deno.test("parseGgufHeader() rejects a string length of 2^60 naming the field", () => {
  // First key length lives at offset 24.
  const b = patch(sample(), 24, (v) => v.setBigUint64(0, 1n << 60n, true));
  assert.throws(() => parseGgufHeader(bytesSource(b)), {
    name: "RangeError",
    message: /metadata\ key\ \#0\ length\ at\ offset\ 24/,
  });
});

Deno.test("parseGgufHeader() rejects a truncated file and a tensor past EOF", () => {
  const full = sample();
  assert.throws(() => parseGgufHeader(bytesSource(full.subarray(0, 40))), {
    name: "RangeError",
    message: /truncated or count corrupt/,
  });
  assert.throws(() => parseGgufHeader(bytesSource(full.subarray(0, 300))), {
    name: "SyntaxError",
    message: /truncated/,
  });
  assert.throws(() => parseGgufHeader(bytesSource(full.subarray(0, full.length - 40))), {
    name: "RangeError",
    message: /extends\ past\ the\ end\ of\ the\ file/,
  });
});

function findTensorInfo(bytes: Uint8Array, name: string): number {
  const needle = new TextEncoder().encode(name);
  for (let i = 0; i < bytes.length; i++) {
    if (
      new DataView(bytes.buffer).getBigUint64(i, true) === BigInt(needle.length) && bytes[i + 8] === needle[0] &&
      bytes[i + 9] === 1
    ) {
      return i;
    }
  }
  throw new Error("not found");
}

Deno.test("parseGgufHeader() rejects unknown tensor types, overlapping and misaligned tensors", () => {
  const full = sample();
  const b = findTensorInfo(full, "b"); // name len (8) + "b" (1) + n_dims (4) + ne0 (8) + type (4) + offset (8)
  assert.throws(() => parseGgufHeader(bytesSource(patch(full, b + 21, (v) => v.setUint32(0, 99, true)))), {
    name: "RangeError",
    message: /unknown\ tensor\ type\ id\ 99/,
  });
  assert.throws(() => parseGgufHeader(bytesSource(patch(full, b + 25, (v) => v.setBigUint64(0, 0n, true)))), {
    name: "RangeError",
    message: /overlaps/,
  });
  assert.throws(() => parseGgufHeader(bytesSource(patch(full, b + 25, (v) => v.setBigUint64(0, 33n, true)))), {
    name: "RangeError",
    message: /not\ aligned/,
  });
  assert.throws(() => parseGgufHeader(bytesSource(patch(full, b + 13, (v) => v.setBigUint64(0, 100n, true)))), {
    name: "RangeError",
    message: /not\ a\ multiple\ of\ the\ TQ2_0\ block\ size/,
  });
});

Deno.test("parseGgufHeader() rejects duplicate keys and unknown value types", () => {
  const dup = encodeGguf({ metadata: [["k", kv(T.UINT8, 1)], ["k", kv(T.UINT8, 2)]], tensors: [] });
  assert.throws(() => parseGgufHeader(bytesSource(dup)), { name: "SyntaxError", message: /duplicate\ key\ "k"/ });
  const one = encodeGguf({ metadata: [["k", kv(T.UINT8, 1)]], tensors: [] });
  assert.throws(() => parseGgufHeader(bytesSource(patch(one, 24 + 8 + 1, (v) => v.setUint32(0, 77, true)))), {
    name: "SyntaxError",
    message: /unknown\ value\ type\ 77/,
  });
});

Deno.test("GgufFile.open() names the path in parse errors and closes the handle", async () => {
  const path = await Deno.makeTempFile({ suffix: ".gguf" });
  await Deno.writeFile(path, new TextEncoder().encode("not a gguf at all"));
  assert.throws(() => GgufFile.open(path), (e: Error) => e instanceof SyntaxError && e.message.includes(path));
  await Deno.remove(path);
});
