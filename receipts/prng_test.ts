/**
 * The receipts' seeded generator (receipts/prng.ts, written out so receipts never import the engine) is the
 * engine's mulberry32 seeded through splitmix32, value for value: bootstrap intervals recomputed by
 * `crossval receipt verify` and the benchmark's token ids stay what they were.
 */
import assert from "node:assert/strict";
import { Prng } from "./prng.ts";
import { Prng as Mulberry32 } from "../engine/sampling.ts";
import { splitmix32 } from "../engine/synth/prng.ts";

Deno.test("receipts' Prng draws the engine's mulberry32 sequence seeded by splitmix32", () => {
  for (const seed of [0, 1, 2, 42, 20261126, -1, 2 ** 31, 2 ** 32 + 5]) {
    const ours = new Prng(seed), engine = new Mulberry32(splitmix32(seed));
    for (let i = 0; i < 1000; i++) assert.equal(ours.next(), engine.next(), `seed ${seed}, draw ${i}`);
  }
});
