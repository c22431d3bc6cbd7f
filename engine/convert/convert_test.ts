import assert from "node:assert/strict";
import { GgmlType } from "../quant/ggml_type.ts";
import { f16ToF32, f32ToF16 } from "../quant/fp16.ts";
import { packI2SCodes, unpackI2SCodes } from "../quant/i2_s_packing.ts";
import { encodeGguf } from "../gguf/writer.ts";
import { GgufFile } from "../gguf/file.ts";
import { writeSyntheticModel } from "../synth/write.ts";
import type { SynthSpec } from "../synth/spec.ts";
import {
  compareWeights,
  ConversionRefusedError,
  convertGguf,
  convertTarget,
  decodeTernary,
  encodeTernary,
  type TernaryWeights,
} from "./mod.ts";

const fr = Math.fround;

function codes(n: number, seed: number, zeroBlocks: readonly number[] = [], block = 256): Uint8Array {
  let s = seed >>> 0;
  const c = Uint8Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % 3;
  });
  for (const b of zeroBlocks) c.fill(1, b * block, (b + 1) * block);
  return c;
}

function i2s(c: Uint8Array, scale: number, rowLength: number, tensorScale?: number): TernaryWeights {
  return { type: GgmlType.I2_S, rows: c.length / rowLength, rowLength, codes: c, i2sScale: scale, tensorScale };
}

function tq(type: number, c: Uint8Array, d: number[], rowLength: number, tensorScale?: number): TernaryWeights {
  const bytes = encodeTernary(c, [rowLength, c.length / rowLength], { type, blockD: Uint16Array.from(d) });
  return decodeTernary(type, bytes, [rowLength, c.length / rowLength], { tensorScale });
}

Deno.test("I2_S -> TQ2_0: an f16 scale becomes every block's d (zero blocks get 0), no .scale tensor", () => {
  const w = i2s(codes(1024, 1, [2]), 0.375, 512);
  const p = convertTarget("tq2_0").plan("w", w);
  assert.deepEqual([...p.blockD!], [f32ToF16(0.375), f32ToF16(0.375), 0, f32ToF16(0.375)]);
  assert.equal(p.tensorScale, undefined);
});

Deno.test("I2_S -> TQ1_0: a scale that is not an f16 value gives d = 1 and the exact scale in .scale", () => {
  const s = fr(0.1);
  const p = convertTarget("tq1_0").plan("w", i2s(codes(512, 2), s, 512));
  assert.deepEqual([...p.blockD!], [0x3c00, 0x3c00]);
  assert.equal(p.tensorScale, s);
  // An existing .scale multiplies in, when the product is an f32 value; otherwise the conversion is refused.
  assert.equal(convertTarget("tq1_0").plan("w", i2s(codes(512, 2), s, 512, 2)).tensorScale, 2 * s);
  assert.throws(
    () => convertTarget("tq1_0").plan("blk.0.attn_q.weight", i2s(codes(512, 2), s, 512, fr(0.3))),
    (e) =>
      e instanceof ConversionRefusedError && /blk\.0\.attn_q\.weight/.test(e.message) && /not an f32/.test(e.message),
  );
});

Deno.test("TQ2_0 -> I2_S: one d for every non-zero block becomes the scale; different d are refused", () => {
  const c = codes(1024, 3, [1]);
  const ok = convertTarget("i2_s").plan("w", tq(GgmlType.TQ2_0, c, [0x2e66, 0x1234, 0x2e66, 0x2e66], 1024));
  assert.equal(ok.i2sScale, f16ToF32(0x2e66)); // block 1 is all zeros: its d does not count
  assert.throws(
    () => convertTarget("i2_s").plan("blk.3.ffn_up.weight", tq(GgmlType.TQ2_0, c, [0x2e66, 0, 0x2e66, 0x2e67], 1024)),
    (e) =>
      e instanceof ConversionRefusedError && /2 different scales/.test(e.message) && /block 3/.test(e.message) &&
      /Keep TQ2_0/.test(e.message),
  );
});

Deno.test("TQ -> I2_S folds a .scale next to d = 1 back into the I2_S scale", () => {
  const p = convertTarget("i2_s").plan("w", tq(GgmlType.TQ1_0, codes(512, 4), [0x3c00, 0x3c00], 512, fr(0.7)));
  assert.equal(p.i2sScale, fr(0.7));
  assert.equal(p.tensorScale, undefined);
  const kept = convertTarget("i2_s").plan("w", tq(GgmlType.TQ1_0, codes(512, 4), [0x3800, 0x3800], 512, fr(0.7)));
  assert.deepEqual([kept.i2sScale, kept.tensorScale], [0.5, fr(0.7)]);
});

Deno.test("TQ2_0 <-> TQ1_0 copies codes and every d bit for bit, a zero block's odd d included", () => {
  const c = codes(768, 5, [1]);
  const d = [0x2e66, 0x1234, 0xb800];
  const a = tq(GgmlType.TQ2_0, c, d, 768);
  const p = convertTarget("tq1_0").plan("w", a);
  const t1 = convertTarget("tq1_0").encode(a, [768, 1], p);
  const b = decodeTernary(GgmlType.TQ1_0, t1, [768, 1]);
  assert.deepEqual(b.codes, c);
  assert.deepEqual([...b.blockD!], d);
  const back = convertTarget("tq2_0").encode(b, [768, 1], convertTarget("tq2_0").plan("w", b));
  assert.deepEqual(back, encodeTernary(c, [768, 1], { type: GgmlType.TQ2_0, blockD: Uint16Array.from(d) }));
});

Deno.test("conversions that would change weights or cannot be stored are refused with the reason", () => {
  const rows384 = i2s(codes(768, 6), 0.5, 384);
  assert.throws(() => convertTarget("tq2_0").plan("w", rows384), /384 weights, not a whole number of TQ2_0's 256/);
  const bad = codes(256, 7);
  bad[17] = 3;
  assert.throws(() => convertTarget("tq2_0").plan("w", i2s(bad, 1, 256)), /element 17 has code 3/);
  assert.throws(() => convertTarget("tq2_0").plan("w", i2s(codes(256, 8), NaN, 256)), /NaN/);
  assert.throws(() => convertTarget("i2_s").plan("w", tq(GgmlType.TQ2_0, codes(256, 9), [0x7c00], 256)), /Infinity/);
  assert.throws(() => convertTarget("q4_0"), /tq2_0, tq1_0, i2_s/);
});

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "convert_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const SPECS: Partial<SynthSpec>[] = [
  { type: "i2_s" },
  { type: "tq2_0", seed: 4 },
  { type: "tq1_0", scales: true, seed: 5 },
  { type: "i2_s", arch: "bitnet-b1.58", embd: 512, ff: 1536, heads: 8, headsKv: 2, layers: 2, seed: 6 },
];

Deno.test("convertGguf() round trips give the original file byte for byte, and every step is lossless", async () => {
  await withDir(async (dir) => {
    for (const [i, spec] of SPECS.entries()) {
      const src = `${dir}/${i}.gguf`;
      await writeSyntheticModel(src, spec);
      const chains = spec.type === "i2_s"
        ? [["tq2_0", "i2_s"], ["tq1_0", "i2_s"], ["tq2_0", "tq1_0", "tq2_0", "i2_s"]]
        : [[spec.type === "tq2_0" ? "tq1_0" : "tq2_0", spec.type!]];
      for (const chain of chains) {
        let from = src;
        for (const [k, to] of chain.entries()) {
          const out = `${dir}/${i}-${chain.slice(0, k + 1).join("-")}.gguf`;
          const r = await convertGguf(from, out, { to });
          const v = compareWeights(from, out);
          assert.ok(v.ok && v.elements > 0, `${from} -> ${to}: ${v.problems.join("; ")}`);
          using f = GgufFile.open(out);
          assert.equal(f.getNumber("general.file_type"), convertTarget(to).fileType);
          assert.equal(r.tensors.length, f.tensors.filter((t) => t.name.endsWith(".weight") && t.type > 30).length);
          from = out;
        }
        const a = await Deno.readFile(src), b = await Deno.readFile(from);
        assert.ok(a.length === b.length && a.every((x, j) => x === b[j]), `${spec.type} via ${chain.join(" -> ")}`);
      }
    }
    assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => e.name.includes(".tmp-")), []);
  });
});

Deno.test("convertGguf() writes nothing when it refuses, and compareWeights() finds a changed weight", async () => {
  await withDir(async (dir) => {
    await writeSyntheticModel(`${dir}/odd.gguf`, { type: "i2_s", embd: 384, ff: 768, heads: 6, headsKv: 2 });
    await assert.rejects(
      () => convertGguf(`${dir}/odd.gguf`, `${dir}/out.gguf`, { to: "tq2_0" }),
      (e) => e instanceof ConversionRefusedError && /nothing was written/.test(e.message) && e.problems.length > 1,
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["odd.gguf"]);
    // I2_S with .scale tensors and scales that are not f16 values: TQ would need two scales per tensor.
    await writeSyntheticModel(`${dir}/scaled.gguf`, { type: "i2_s", scales: true, seed: 3 });
    await assert.rejects(
      () => convertGguf(`${dir}/scaled.gguf`, `${dir}/out.gguf`, { to: "tq1_0" }),
      /the product with the existing \.scale [\d.]+ is not an f32 value/,
    );
    await Deno.remove(`${dir}/scaled.gguf`);

    await writeSyntheticModel(`${dir}/a.gguf`, { type: "i2_s" });
    await convertGguf(`${dir}/a.gguf`, `${dir}/b.gguf`, { to: "tq2_0" });
    const bytes = await Deno.readFile(`${dir}/b.gguf`);
    using f = GgufFile.open(`${dir}/b.gguf`);
    const t = f.tensor("blk.1.ffn_down.weight")!;
    bytes[f.header.dataOffset + t.offset + 100] ^= 0x03; // a code 1 <-> 2 flip, or 0 <-> 3
    await Deno.writeFile(`${dir}/c.gguf`, bytes);
    const v = compareWeights(`${dir}/a.gguf`, `${dir}/c.gguf`);
    assert.equal(v.ok, false);
    assert.match(v.problems[0], /^blk\.1\.ffn_down\.weight: element \d+ is/);
  });
});

Deno.test("convertGguf() reads the row-1x4 and neon-64 I2_S packings when told, and writes act-parallel", async () => {
  await withDir(async (dir) => {
    const orig = `${dir}/act.gguf`;
    await writeSyntheticModel(orig, { type: "i2_s", seed: 9 });
    using f = GgufFile.open(orig);
    for (const packing of ["row-1x4", "neon-64"] as const) {
      const other = `${dir}/${packing}.gguf`;
      await Deno.writeFile(
        other,
        encodeGguf({
          metadata: f.header.metadata,
          tensors: f.tensors.map((t) => {
            const data = f.readTensor(t.name);
            if (t.type !== GgmlType.I2_S) return { name: t.name, shape: t.shape, type: t.type, data };
            const shape = { rows: t.nElements / t.shape[0], rowLength: t.shape[0] };
            const c = new Uint8Array(t.nElements);
            const s = unpackI2SCodes(data, "act-parallel", shape, c);
            const out = new Uint8Array(data.length);
            packI2SCodes(c, s, packing, shape, out);
            return { name: t.name, shape: t.shape, type: t.type, data: out };
          }),
        }),
      );
      assert.equal(compareWeights(other, orig).ok, false, `${packing} read as act-parallel differs`);
      assert.ok(compareWeights(other, orig, { i2sPackingA: packing }).ok);
      await convertGguf(other, `${dir}/${packing}-repacked.gguf`, { to: "i2_s", i2sPacking: packing });
      assert.deepEqual(await Deno.readFile(`${dir}/${packing}-repacked.gguf`), await Deno.readFile(orig));
    }
  });
});
