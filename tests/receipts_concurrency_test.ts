/**
 * Two runs writing the same `ci/` at once: every receipt left there is one whole receipt of one of the runs (valid
 * JSON, verified, equal to what that run printed), never an interleaving of both, and no temporary file remains.
 */
import assert from "node:assert/strict";
import { type CliResult, crossval } from "../cli/_testing.ts";
import { fixtureModel, validateOutputs, withTempDir } from "./_fixtures.ts";

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

function assertRan(r: CliResult, what: string): void {
  assert.ok(r.code === 0 || r.code === 1, `${what} exited ${r.code}: ${r.stderr}`);
}

Deno.test("two parity runs and two bench runs on one ci/ at once leave whole receipts, one of each run", async () => {
  const model = await fixtureModel({});
  const name = model.split("/").pop()!.replace(/\.gguf$/, "");
  await withTempDir("concurrent_receipts_", async (dir) => {
    const parity = ["parity", "--model", model, "--steps", "8", "--out", `${dir}/ci/parity.json`, "--json"];
    const bench = [
      "bench",
      ...["--model", model, "--pp", "8", "--tg", "4", "--reps", "2", "--warmup", "0", "--threads", "1"],
      ...["--out-dir", `${dir}/ci`, "--json"],
    ];
    const runs = await Promise.all([crossval(parity), crossval(parity), crossval(bench), crossval(bench)]);
    runs.forEach((r, i) => assertRan(r, i < 2 ? "parity" : "bench"));
    assert.deepStrictEqual(await names(`${dir}/ci`), [`bench_${name}.json`, "parity.json"], "no temporary file");
    for (const [file, printed] of [["parity.json", runs.slice(0, 2)], [`bench_${name}.json`, runs.slice(2)]] as const) {
      const text = await Deno.readTextFile(`${dir}/ci/${file}`);
      const written = JSON.parse(text); // throws on an interleaving
      const candidates = printed.map((r) => JSON.parse(r.stdout));
      assert.ok(
        candidates.some((c) => JSON.stringify(c) === JSON.stringify(written)),
        `${file} is exactly the receipt one of the runs printed`,
      );
      assert.notEqual(JSON.stringify(candidates[0]), JSON.stringify(candidates[1]), "the two runs made two receipts");
    }
    const verify = await crossval(["receipt", "verify", `${dir}/ci/parity.json`, `${dir}/ci/bench_${name}.json`]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });
});

Deno.test("two crossval validate runs on one ci/ at once both finish and leave verified receipts", async () => {
  await withTempDir("concurrent_validate_", async (dir) => {
    const args = ["validate", "--steps", "2", "--threads", "1", "--out", `${dir}/ci/parity.json`, "--json"];
    const [a, b] = await Promise.all([crossval(args), crossval(args)]);
    assertRan(a, "validate (first)");
    assertRan(b, "validate (second)");
    for (const r of [a, b]) JSON.parse(r.stdout);
    const outputs = await validateOutputs();
    assert.deepStrictEqual(await names(`${dir}/ci`), outputs.all, "no temporary file");
    const receipts = [...outputs.parity, ...outputs.bench].map((n) => `${dir}/ci/${n}`);
    const verify = await crossval(["receipt", "verify", ...receipts]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });
});
