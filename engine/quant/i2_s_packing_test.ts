import assert from "node:assert/strict";
import { i2sRowDispersion, packI2SCodes, parseI2SPacking, unpackI2SCodes } from "./i2_s_packing.ts";
import { I2S_PACKINGS } from "./i2_s_packing.ts";
import { quantizeI2S } from "./i2_s.ts";
import { makeData } from "./_testing.ts";

function randomCodes(n: number, seed: number): Uint8Array {
  return Uint8Array.from(makeData("uniform", n, seed), (v) => Math.min(2, Math.floor((v + 3) / 2)) % 3);
}

Deno.test("packI2SCodes(act-parallel) writes what quantizeI2S writes for (code - 1) * scale", () => {
  const codes = randomCodes(4 * 256, 1);
  const x = Float32Array.from(codes, (c) => (c - 1) * 0.375);
  const a = new Uint8Array(256 + 32), b = new Uint8Array(256 + 32).fill(0xcc);
  quantizeI2S(x, a);
  packI2SCodes(codes, 0.375, "act-parallel", { rows: 4, rowLength: 256 }, b);
  assert.deepEqual(b, a);
});

Deno.test("every packing round-trips codes and scale, and the packings differ", () => {
  const shape = { rows: 8, rowLength: 384 };
  const codes = randomCodes(8 * 384, 2);
  const packed = I2S_PACKINGS.map((p) => {
    const out = new Uint8Array(8 * 384 / 4 + 32);
    packI2SCodes(codes, 1.25, p, shape, out);
    const back = new Uint8Array(codes.length);
    assert.equal(unpackI2SCodes(out, p, shape, back), 1.25, p);
    assert.deepEqual(back, codes, p);
    return out;
  });
  for (let i = 0; i < packed.length; i++) {
    for (let j = i + 1; j < packed.length; j++) assert.notDeepEqual(packed[i], packed[j]);
  }
});

Deno.test("row-1x4 puts rows 4g..4g+3 of one column in one byte; neon-64 uses 64-weight blocks of 16 bytes", () => {
  const codes = new Uint8Array(4 * 128).fill(1);
  codes[3 * 128 + 5] = 2; // row 3, column 5
  const r = new Uint8Array(128 + 32);
  packI2SCodes(codes, 1, "row-1x4", { rows: 4, rowLength: 128 }, r);
  assert.equal(r[5], 0b01010110);
  const c = new Uint8Array(128).fill(1);
  c[64 + 16 + 3] = 0; // block 1, group 1, position 3 -> byte 16 + 3, bits 5:4
  const n = new Uint8Array(32 + 32);
  packI2SCodes(c, 1, "neon-64", { rows: 1, rowLength: 128 }, n);
  assert.equal(n[19], 0b01000101);
});

Deno.test("packings refuse shapes bitnet.cpp cannot hold, and unknown names", () => {
  const out = new Uint8Array(3 * 128 / 4 + 32);
  assert.throws(
    () => packI2SCodes(new Uint8Array(3 * 128).fill(1), 1, "row-1x4", { rows: 3, rowLength: 128 }, out),
    /groups of 4 rows/,
  );
  assert.throws(() => packI2SCodes(new Uint8Array(192).fill(1), 1, "neon-64", { rows: 1, rowLength: 192 }, out), /128/);
  assert.throws(() => parseI2SPacking("arm"), /act-parallel, row-1x4, neon-64/);
  const big = new Uint8Array(512 / 4 + 32);
  assert.throws(
    () => packI2SCodes(new Uint8Array(512).fill(3), 1, "neon-64", { rows: 4, rowLength: 128 }, big),
    /code 3/,
  );
});

Deno.test("i2sRowDispersion() tells act-parallel from row-1x4 when rows differ, and says nothing on i.i.d. codes", () => {
  const rows = 256, k = 1024;
  // Rows with their own zero rate (as absmean ternarization gives rows of different magnitude), signs at random.
  const u = makeData("uniform", rows * k + rows, 3);
  const codes = new Uint8Array(rows * k);
  for (let r = 0; r < rows; r++) {
    const pZero = 0.2 + 0.4 * (u[rows * k + r] + 3) / 6;
    for (let c = 0; c < k; c++) {
      const v = (u[r * k + c] + 3) / 6;
      codes[r * k + c] = v < pZero ? 1 : (v * 1e6) % 2 < 1 ? 0 : 2;
    }
  }
  for (const p of ["act-parallel", "row-1x4"] as const) {
    const bytes = new Uint8Array(rows * k / 4 + 32);
    packI2SCodes(codes, 1, p, { rows, rowLength: k }, bytes);
    const [a, b] = i2sRowDispersion(bytes, { rows, rowLength: k });
    const [right, wrong] = p === "act-parallel" ? [a, b] : [b, a];
    assert.ok(right.dispersion > 20, `${p}: dispersion ${right.dispersion}`);
    assert.ok(right.dispersion > 3 * wrong.dispersion, `${p}: ${right.dispersion} vs ${wrong.dispersion}`);
  }
  const iid = new Uint8Array(rows * k / 4 + 32);
  packI2SCodes(randomCodes(rows * k, 4), 1, "act-parallel", { rows, rowLength: k }, iid);
  for (const e of i2sRowDispersion(iid, { rows, rowLength: k })) {
    assert.ok(Math.abs(e.dispersion - 1) < 0.5, `${e.packing}: ${e.dispersion}`);
  }
});
