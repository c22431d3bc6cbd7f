/**
 * Fuzz: random byte flips and truncations of a valid model must give either a clean parse or a clean
 * SyntaxError/RangeError, quickly (no hang, no other exception, no huge allocation).
 */
import assert from "node:assert/strict";
import { bytesSource, encodeGguf, parseGgufHeader } from "./mod.ts";
import { normalizeSpec, synthesizeModel } from "../synth/mod.ts";
import { Rng } from "../synth/prng.ts";

const CASES = 3000;

Deno.test(`parseGgufHeader() survives ${CASES} mutated and truncated files`, () => {
  const valid = encodeGguf(synthesizeModel(normalizeSpec({ layers: 1, embd: 256, ff: 256 })).gguf);
  // Mutations concentrate on the header (where the parser works); tensor data bytes cannot break parsing.
  const headerEnd = parseGgufHeader(bytesSource(valid)).dataOffset;
  const rng = new Rng(20261126, "fuzz");
  let ok = 0, clean = 0;
  const t0 = performance.now();
  for (let i = 0; i < CASES; i++) {
    let b = valid.slice();
    const kind = rng.u32() % 4;
    if (kind === 0) {
      b = b.subarray(0, rng.u32() % b.length);
    } else {
      const flips = 1 + (rng.u32() % 8);
      for (let j = 0; j < flips; j++) {
        const at = rng.u32() % headerEnd;
        b[at] = kind === 1 ? b[at]! ^ (1 << (rng.u32() % 8)) : kind === 2 ? rng.u32() & 255 : 0xff;
      }
    }
    const c0 = performance.now();
    try {
      parseGgufHeader(bytesSource(b));
      ok++;
    } catch (e) {
      if (!(e instanceof SyntaxError || e instanceof RangeError)) throw new Error(`case ${i}: unexpected ${e}`);
      assert.ok(e.message.startsWith("Cannot parse GGUF"), `case ${i}: message "${e.message}"`);
      clean++;
    }
    assert.ok(performance.now() - c0 < 1000, `case ${i} took too long`);
  }
  assert.ok(clean > CASES / 4, `only ${clean} of ${CASES} mutations were rejected`);
  assert.ok(performance.now() - t0 < 60_000);
  console.log(`fuzz: ${ok} parsed, ${clean} rejected cleanly`);
});
