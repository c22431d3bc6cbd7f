/**
 * One JSON naming convention (docs/CROSSVAL.md, "JSON output"): every key that every command prints with `--json`,
 * and every key of the receipts they write, is snake_case. Maps keyed by data (tensor kinds from llama.cpp's graph,
 * such as `Qcur`; GGML type names such as `I2_S`) are the only exception, each listed with its path.
 */
import assert from "node:assert/strict";
import { crossval } from "./_testing.ts";
import { fixtureModel, withTempDir } from "../engine/synth/_testing.ts";

const SNAKE = /^[a-z0-9]+(_[a-z0-9]+)*$/;

/** Paths (`/a/b/*`) whose keys are data, not field names. */
const DATA_MAPS: readonly RegExp[] = [
  /^\/thresholds\/localization\/new_error_row_nmse\/[^/]+$/, // llama.cpp tensor kinds (Qcur, Kcur, Vcur)
  /^\[\]\/thresholds\/localization\/new_error_row_nmse\/[^/]+$/,
  /^\/reference\/input\/transcode\/from_types\/[^/]+$/, // GGML type names the transcode rewrote (I2_S, TQ2_0)
];

/** Every key that breaks the convention, as a JSON path. */
function badKeys(value: unknown, path = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => badKeys(v, `${path}[]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const p = `${path}/${k}`;
    const own = SNAKE.test(k) || k === "$schema" || DATA_MAPS.some((re) => re.test(p)) ? [] : [p];
    return [...own, ...badKeys(v, p)];
  });
}

/** stdout as one JSON document or as NDJSON lines. */
function documents(stdout: string): unknown[] {
  try {
    return [JSON.parse(stdout)];
  } catch {
    return stdout.trim().split("\n").map((l) => JSON.parse(l));
  }
}

Deno.test("every command's --json output and every receipt uses snake_case keys", async () => {
  const model = await fixtureModel({});
  await withTempDir("json_naming_", async (dir) => {
    const commands: [string, string[]][] = [
      ["make-model", ["make-model", "--layers", "1", "--vocab", model, "--out", `${dir}/m.gguf`, "--json"]],
      ["inspect", ["inspect", model, "--json"]],
      ["run", ["run", "--model", model, "--prompt", "Hi", "-n", "2", "--temp", "0.5", "--json"]],
      ["ref-run", ["ref-run", "--model", model, "--prompt", "Hi", "-n", "2", "--json"]],
      ["tokenize", ["tokenize", "--model", model, "--text", "Hi there", "--json"]],
      ["fetch", ["fetch", "--tier", "ci", "--json"]],
      ["parity", ["parity", "--model", model, "--steps", "2", "--out", `${dir}/ci/parity.json`, "--json"]],
      ["bench", [
        "bench",
        "--model",
        model,
        ...["--pp", "4", "--tg", "2", "--reps", "2", "--warmup", "0", "--out-dir", `${dir}/ci`, "--json"],
      ]],
      ["receipt verify", ["receipt", "verify", `${dir}/ci/parity.json`, "--json"]],
      ["baselines gen", ["baselines", "gen", "--receipts", `${dir}/ci`, "--out", `${dir}/bl`, "--json"]],
      ["baselines verify", [
        "baselines",
        "verify",
        ...["--baseline", `${dir}/bl/latest-cpu.json`, "--receipts", `${dir}/ci`, "--json"],
      ]],
      ["validate", ["validate", "--steps", "2", "--out", `${dir}/v/parity.json`, "--json"]],
      ["--version", ["--version", "--json"]],
    ];
    const problems: string[] = [];
    for (const [name, args] of commands) {
      const r = await crossval(args);
      assert.ok(r.code === 0 || r.code === 1, `${name} exited ${r.code}: ${r.stderr}`);
      for (const doc of documents(r.stdout)) problems.push(...badKeys(doc).map((p) => `crossval ${name}: ${p}`));
    }
    const written: string[] = [];
    for (const sub of ["ci", "v", "bl"]) {
      for await (const e of Deno.readDir(`${dir}/${sub}`)) {
        if (!e.name.endsWith(".json")) continue;
        written.push(`${sub}/${e.name}`);
        const doc = JSON.parse(await Deno.readTextFile(`${dir}/${sub}/${e.name}`));
        problems.push(...badKeys(doc).map((p) => `${sub}/${e.name}: ${p}`));
      }
    }
    assert.equal(written.filter((w) => /(parity(-[\w.-]+)?|bench_.*|cpu)\.json$/.test(w)).length, written.length);
    assert.ok(written.length >= 5, `parity, bench and baseline receipts were written: ${written.join(", ")}`);
    assert.deepStrictEqual(problems, [], "keys must be snake_case (convert library structs with snakeKeys())");
  });
});

Deno.test("every property the receipt schemas define is snake_case", async () => {
  const bad: string[] = [];
  for (const file of ["parity", "bench", "baseline"].map((s) => `../receipts/${s}.schema.json`)) {
    const walk = (v: unknown, path: string): void => {
      if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${path}/${i}`));
      if (v === null || typeof v !== "object") return;
      for (const [k, x] of Object.entries(v)) {
        if (k === "properties" && x && typeof x === "object") {
          for (const name of Object.keys(x)) if (!SNAKE.test(name) && name !== "$schema") bad.push(`${path}/${name}`);
        }
        walk(x, `${path}/${k}`);
      }
    };
    walk(JSON.parse(await Deno.readTextFile(new URL(file, import.meta.url))), file);
  }
  assert.deepStrictEqual(bad, []);
});
