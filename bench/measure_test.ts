import assert from "node:assert/strict";
import {
  depthTokens,
  parseTestName,
  repetitionTokens,
  testAtDepth,
  testContext,
  testTokenCount,
  timeRepetition,
} from "./measure.ts";
import type { BenchSubject } from "./subject.ts";

Deno.test("parseTestName() reads llama-bench's pp<N> and tg<N> and rejects anything else", () => {
  assert.deepEqual(parseTestName("pp512"), { name: "pp512", nPrompt: 512, nGen: 0, nDepth: 0 });
  assert.deepEqual(parseTestName("tg128"), { name: "tg128", nPrompt: 0, nGen: 128, nDepth: 0 });
  assert.deepEqual(parseTestName("tg32@d2048"), { name: "tg32@d2048", nPrompt: 0, nGen: 32, nDepth: 2048 });
  assert.equal(testTokenCount(parseTestName("tg7")), 7);
  assert.equal(testTokenCount(parseTestName("tg7@d9")), 7, "the depth is not timed");
  assert.equal(testContext(parseTestName("tg7@d9")), 16);
  assert.equal(testAtDepth("tg32", 512), "tg32@d512");
  for (const bad of ["pp0", "pp", "tg-1", "pg512", "pp512 @ d512", "PP8", "pp01", "tg32@d0", "tg32@512", "tg32@d"]) {
    assert.throws(() => parseTestName(bad), /expected pp<N> \(prompt processing\) or tg<N>/, bad);
  }
});

Deno.test("repetitionTokens() is seeded per test and repetition, stays in the vocabulary, starts with BOS", () => {
  const pp = parseTestName("pp64"), tg = parseTestName("tg64");
  const a = repetitionTokens(pp, 0, { seed: 1, nVocab: 1000, bos: 999 });
  assert.deepEqual(a, repetitionTokens(pp, 0, { seed: 1, nVocab: 1000, bos: 999 }));
  assert.equal(a[0], 999);
  assert.ok(a.every((id) => id >= 0 && id < 1000));
  assert.notDeepEqual(a, repetitionTokens(pp, 1, { seed: 1, nVocab: 1000, bos: 999 }), "repetitions differ");
  assert.notDeepEqual(a, repetitionTokens(pp, 0, { seed: 2, nVocab: 1000, bos: 999 }), "seeds differ");
  assert.notDeepEqual(
    a.subarray(1),
    repetitionTokens(tg, 0, { seed: 1, nVocab: 1000, bos: 999 }).subarray(1),
    "tests differ",
  );
  const noBos = repetitionTokens(pp, -1, { seed: 1, nVocab: 7, bos: null });
  assert.equal(noBos.length, 64);
  assert.ok(noBos.every((id) => id >= 0 && id < 7));
  assert.ok(new Set(noBos).size === 7, "all of a small vocabulary is drawn");
  assert.throws(() => repetitionTokens(pp, 0, { seed: 1, nVocab: 0, bos: null }), /vocabulary size is 0/);
});

Deno.test("depthTokens() are the same for every repetition; timeRepetition() fills the depth untimed, rewinding", async () => {
  const a = depthTokens(40, { seed: 1, nVocab: 1000, bos: 999 });
  assert.equal(a.length, 40);
  assert.equal(a[0], 999);
  assert.deepEqual(a, depthTokens(40, { seed: 1, nVocab: 1000, bos: 999 }));
  // A subject that logs what it is asked to do: the depth is decoded once, then rewound to.
  const log: string[] = [];
  let pos = 0;
  const subject = (rewind: boolean): BenchSubject => ({
    nVocab: 1000,
    nCtx: 64,
    bos: 999,
    reset: () => void (log.push("reset"), pos = 0),
    ...(rewind ? { rewind: (n: number) => void (log.push(`rewind ${n}`), pos = n) } : {}),
    decode: (ids) => void (log.push(`decode ${ids.length} at ${pos}`), pos += ids.length),
    kernels: () => [],
    describe: () => {
      throw new Error("not used");
    },
  });
  const test = parseTestName("tg2@d40");
  const s = subject(true);
  for (let rep = 0; rep < 2; rep++) {
    await timeRepetition(s, test, repetitionTokens(test, rep, { seed: 1, nVocab: 1000, bos: null }), a);
  }
  assert.deepEqual(log, [
    "reset",
    "decode 40 at 0",
    "decode 1 at 40",
    "decode 1 at 41",
    "rewind 40",
    "decode 1 at 40",
    "decode 1 at 41",
  ]);
  log.length = 0;
  const r = subject(false);
  await timeRepetition(r, test, repetitionTokens(test, 0, { seed: 1, nVocab: 1000, bos: null }), a);
  await timeRepetition(r, test, repetitionTokens(test, 1, { seed: 1, nVocab: 1000, bos: null }), a);
  assert.equal(log.filter((x) => x === "decode 40 at 0").length, 2, "without rewind the depth is refilled");
  await assert.rejects(() => timeRepetition(r, test, new Int32Array(2)), /got 0 depth tokens, expected 40/);
  await assert.rejects(
    () => timeRepetition(r, parseTestName("tg2@d63"), new Int32Array(2), new Int32Array(63)),
    /65 tokens do not fit the context of 64/,
  );
});
