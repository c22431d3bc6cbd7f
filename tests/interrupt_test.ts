/**
 * SIGINT, SIGTERM and SIGKILL in the middle of `parity`, `bench` and `validate` (`fetch` has its own tests in
 * fetch_cli_test.ts and fetch_concurrency_test.ts), each delivered at a point the test sees on the command's stderr:
 * the documented exit code (130, 143; 137 for SIGKILL), every receipt either untouched or complete (never half
 * written, no temporary file left once the next run wrote), and a rerun that produces a valid receipt.
 */
import assert from "node:assert/strict";
import { CONFIG, crossval, MAIN } from "../cli/_testing.ts";
import { fixtureModel, validateOutputs, withTempDir } from "./_fixtures.ts";

const VALIDATE = await validateOutputs();

type Signal = "SIGINT" | "SIGTERM" | "SIGKILL";
const SIGNALS: readonly [Signal, number][] = [["SIGINT", 130], ["SIGTERM", 143], ["SIGKILL", 137]];

/** Runs `crossval <args>`, sends `signal` when a stderr line matches `when`, and returns how it ended. */
async function interrupt(
  args: readonly string[],
  when: RegExp,
  signal: Signal,
): Promise<{ code: number; stderr: string; signalled: boolean }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, MAIN, ...args],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  let signalled = false;
  for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
    stderr += text;
    if (!signalled && when.test(stderr)) {
      signalled = true;
      child.kill(signal);
    }
  }
  return { code: (await child.status).code, stderr, signalled };
}

async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(dir)) out.set(e.name, await Deno.readTextFile(`${dir}/${e.name}`));
  return out;
}

async function assertVerifies(...files: string[]): Promise<void> {
  const r = await crossval(["receipt", "verify", ...files]);
  assert.equal(r.code, 0, `receipt verify ${files.join(" ")}: ${r.stdout}${r.stderr}`);
}

interface CommandCase {
  readonly name: string;
  /** A quick run that writes the receipts the interrupted runs must leave as they are. */
  readonly quick: (dir: string, model: string) => string[];
  /** A long run of the same command, interrupted. */
  readonly long: (dir: string, model: string) => string[];
  /** The stderr line at which the signal is sent (the command is then mid-way). */
  readonly when: RegExp;
  /** Receipts (relative to the output directory) the quick run writes. */
  readonly receipts: (model: string) => string[];
}

const stem = (model: string) => model.split("/").pop()!.replace(/\.gguf$/, "");

const CASES: readonly CommandCase[] = [
  {
    name: "parity",
    quick: (dir, m) => ["parity", "--model", m, "--steps", "2", "--out", `${dir}/ci/parity.json`],
    // 256 greedy steps keep the run going for seconds after its logits phase.
    long: (dir, m) => ["parity", "--model", m, "--steps", "256", "--out", `${dir}/ci/parity.json`],
    when: /✓ logits/,
    receipts: () => ["parity.json"],
  },
  {
    name: "bench",
    quick: (dir, m) => [
      "bench",
      ...["--model", m, "--pp", "4", "--tg", "2", "--reps", "2", "--warmup", "0", "--threads", "1"],
      ...["--out-dir", `${dir}/ci`],
    ],
    long: (dir, m) => [
      "bench",
      ...["--model", m, "--pp", "64", "--tg", "32", "--reps", "50", "--threads", "1", "--out-dir", `${dir}/ci`],
    ],
    when: /loaded engine/,
    receipts: (m) => [`bench_${stem(m)}.json`],
  },
  {
    name: "validate",
    quick: (dir) => ["validate", "--steps", "2", "--threads", "1", "--out", `${dir}/ci/parity.json`],
    long: (dir) => ["validate", "--steps", "256", "--threads", "1", "--out", `${dir}/ci/parity.json`],
    when: /✓ logits/,
    receipts: () => VALIDATE.all.slice(),
  },
];

for (const c of CASES) {
  Deno.test(`crossval ${c.name} interrupted by SIGINT, SIGTERM or SIGKILL leaves its receipts whole`, async () => {
    const model = await fixtureModel({});
    await withTempDir(`interrupt_${c.name}_`, async (dir) => {
      const first = await crossval(c.quick(dir, model));
      assert.ok(first.code === 0 || first.code === 1, `${c.name}: ${first.stderr}`);
      const before = await snapshot(`${dir}/ci`);
      assert.deepStrictEqual([...before.keys()].sort(), c.receipts(model).sort());

      for (const [signal, code] of SIGNALS) {
        const r = await interrupt(c.long(dir, model), c.when, signal);
        assert.ok(r.signalled, `${c.name}: the trigger ${c.when} never appeared:\n${r.stderr}`);
        assert.equal(r.code, code, `${c.name} after ${signal}:\n${r.stderr}`);
        if (signal !== "SIGKILL") {
          assert.match(
            r.stderr,
            new RegExp(`crossval ${c.name}: interrupted \\(${signal}\\)\\..*Run the same command`),
          );
        }
        // The signal is handled at the command's next await, which may be its receipt write: the receipt is then
        // still the old one, and the interrupted write's temporary file is gone (SIGKILL: left for the next write).
        const now = await snapshot(`${dir}/ci`);
        if (signal === "SIGKILL") { for (const k of now.keys()) if (/^\..*\.tmp$/.test(k)) now.delete(k); }
        assert.deepStrictEqual(now, before, `${c.name} after ${signal}: receipts untouched, no temporary file`);
      }

      const again = await crossval(c.quick(dir, model));
      assert.ok(again.code === 0 || again.code === 1, `${c.name} rerun: ${again.stderr}`);
      const after = await snapshot(`${dir}/ci`);
      assert.deepStrictEqual([...after.keys()].sort(), c.receipts(model).sort(), "no temporary file left");
      for (const name of c.receipts(model)) assert.notEqual(after.get(name), before.get(name), `${name} rewritten`);
      await assertVerifies(...c.receipts(model).filter((n) => n.endsWith(".json")).map((n) => `${dir}/ci/${n}`));
    });
  });
}

Deno.test("crossval validate interrupted in its benchmark step keeps the parity receipt it already wrote", async () => {
  await withTempDir("interrupt_validate_bench_", async (dir) => {
    const out = `${dir}/ci/parity.json`;
    const r = await interrupt(
      ["validate", "--steps", "2", "--threads", "1", "--out", out],
      /^bench ci-tiny/m,
      "SIGINT",
    );
    assert.ok(r.signalled, r.stderr);
    assert.equal(r.code, 130, r.stderr);
    assert.deepStrictEqual([...(await snapshot(`${dir}/ci`)).keys()].sort(), [...VALIDATE.parity].sort());
    await assertVerifies(...VALIDATE.parity.map((n) => `${dir}/ci/${n}`));
  });
});
