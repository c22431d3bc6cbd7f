/**
 * `crossval run`: streamed text with the speed line, `--json` output, sampling flags, and usage errors (exit 2).
 *
 * @module
 */

import assert from "node:assert/strict";
import { fixtureModel } from "./_fixtures.ts";

const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;

async function crossval(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("crossval run streams the prompt and continuation, then prints prompt and generation tokens/s", async () => {
  const model = await fixtureModel({});
  const r = await crossval("run", "--model", model, "--prompt", "Once upon a time", "-n", "8", "--threads", "2");
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.startsWith("Once upon a time"), r.stdout);
  assert.ok(r.stdout.length > "Once upon a time".length);
  assert.match(
    r.stderr,
    /prompt: \d+ tokens, [\d.]+ tok\/s \| generation: 8 tokens, [\d.]+ tok\/s \| wasm backend, 2 thread\(s\), fast numerics, greedy/,
  );
});

Deno.test("crossval run --json reports ids, text, timings, tokens/s, backend, threads and kernels", async () => {
  const model = await fixtureModel({});
  const base = ["run", "--model", model, "--prompt", "Hello", "-n", "6", "--backend", "ref", "--json"];
  const sampled = [...base, "--temp", "0.9", "--seed", "3"];
  const r = await crossval(...sampled);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.ids.length, 6);
  assert.equal(typeof j.text, "string");
  assert.equal(j.backend, "ref");
  assert.equal(j.threads, 1);
  assert.deepEqual(j.sampling, { greedy: false, temperature: 0.9, top_k: 40, top_p: 0.95, seed: 3 });
  assert.ok(j.tokens_per_second.prompt > 0 && j.tokens_per_second.gen > 0);
  assert.ok(j.timings.prompt_ms > 0 && j.timings.gen_decodes === 5);
  assert.equal(j.numerics, "fast"); // run's default
  assert.ok(j.kernels.includes("ref.fast.gemm.tq2_0x2_q8_k"), j.kernels.join(", "));
  // Same seed, same tokens.
  const again = JSON.parse((await crossval(...sampled)).stdout);
  assert.deepEqual(again.ids, j.ids);
});

Deno.test("crossval run rejects contradictory or malformed flags with exit code 2", async () => {
  const model = await fixtureModel({});
  const both = await crossval("run", "--model", model, "--prompt", "x", "--greedy", "--temp", "0.5");
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--greedy cannot be combined with --temp/);
  const bad = await crossval("run", "--model", model, "--prompt", "x", "--top-p", "1.5");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /option '--top-p <p>' argument '1.5' is invalid\. Expected a number in \(0, 1\]/);
  const missing = await crossval("run", "--model", "/nonexistent.gguf", "--prompt", "x");
  assert.equal(missing.code, 2);
});
