import assert from "node:assert/strict";
import { LockfileError } from "./errors.ts";
import { defaultLockfilePath, Lockfile } from "./lockfile.ts";
import { GENERATED_VALIDATOR_PATH, generateLockfileValidatorSource } from "./_gen_lockfile_validator.ts";
import { EMPTY_SHA256 } from "./sha256.ts";

const SHA = "ab".repeat(32);

function doc(models: Record<string, unknown>[], top: Record<string, unknown> = {}): string {
  return JSON.stringify({ schema_version: "1.0.0", updated: "2026-11-26T00:00:00Z", models, ...top });
}

function model(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "m",
    tier: "ci",
    url: "https://example.com/m.gguf",
    sha256: SHA,
    size_bytes: 10,
    description: "d",
    ...over,
  };
}

function problemsOf(text: string): string[] {
  try {
    Lockfile.parse(text, { source: "t.json" });
  } catch (e) {
    assert.ok(e instanceof LockfileError, String(e));
    assert.equal(e.source, "t.json");
    return [...e.problems];
  }
  assert.fail("expected a LockfileError");
}

Deno.test("the repository lockfile is valid and pins every tier", async () => {
  const lock = await Lockfile.load(defaultLockfilePath());
  assert.deepStrictEqual([...new Set(lock.models.map((m) => m.tier))].sort(), ["bench", "ci", "integration"]);
  const real = lock.entry("bitnet-b1.58-2b4t-i2s");
  // the official 2B4T I2_S GGUF (docs/formats.md section 4).
  assert.equal(real?.sha256, "4221b252fdd5fd25e15847adfeb5ee88886506ba50b8a34548374492884c2162");
  assert.equal(real?.size_bytes, 1_187_801_280);
});

Deno.test("Lockfile.parse() reports every problem with its location", () => {
  const problems = problemsOf(doc([
    model({ name: "../x", tier: "nightly", sha256: "ABC", size_bytes: "1", extra: true }),
  ]));
  assert.deepStrictEqual(problems, [
    'models[0]: unknown field "extra"',
    'models[0].name "../x": unsafe or invalid name (use 1-64 of a-z 0-9 . _ -, starting with a letter or digit; ' +
    'never a path like "../x")',
    'models[0].tier "nightly": unknown tier (known: ci, integration, bench)',
    'models[0].sha256 "ABC": not a SHA-256 (need 64 lowercase hex digits, got 3 characters)',
    'models[0].size_bytes "1": must be integer',
  ]);
});

Deno.test("Lockfile.parse() catches duplicates, bad sources and sizes that contradict hashes", () => {
  const problems = problemsOf(doc([
    model({ name: "a", url: "http://example.com/m.gguf" }),
    model({ name: "a", url: "file:///m.gguf", size_bytes: 11 }),
    model({ name: "e", sha256: EMPTY_SHA256, size_bytes: 5 }),
    model({ name: "g", url: "generate:make-model?colour=red" }),
  ]));
  assert.equal(problems.length, 5, problems.join("\n"));
  assert.match(problems[0], /^models\[0\]\.url: .*only for loopback/);
  assert.match(problems[1], /^models\[1\]\.name "a": duplicate of models\[0\]\.name/);
  assert.match(problems[2], /^models\[1\]\.size_bytes 11: size mismatch with models\[0\]/);
  assert.match(problems[3], /^models\[2\]: size mismatch: sha256 is the hash of the empty file but size_bytes is 5/);
  assert.match(problems[4], /^models\[3\]\.url: .*unknown make-model option "colour"/);
});

Deno.test("Lockfile.parse() names uppercase hashes, bad versions, bad times and broken JSON", () => {
  assert.match(problemsOf(doc([model({ sha256: SHA.toUpperCase() })]))[0], /write it in lowercase/);
  assert.match(problemsOf(doc([model()], { schema_version: "2.0.0" }))[0], /"2\.0\.0": unsupported/);
  assert.match(problemsOf(doc([model()], { updated: "yesterday" }))[0], /not an RFC 3339 UTC time/);
  assert.match(problemsOf(doc([]))[0], /the lockfile lists no models/);
  assert.match(problemsOf("{ nope")[0], /^not valid JSON/);
  assert.match(problemsOf(doc([model()], { $schema: "./lock/lockfile.schema.json", x: 1 }))[0], /unknown field "x"/);
});

Deno.test("Lockfile.select() filters by tier and name, and names what exists on a miss", () => {
  const lock = Lockfile.parse(
    doc([model({ name: "a" }), model({ name: "b", tier: "bench", sha256: "cd".repeat(32) })]),
  );
  assert.deepStrictEqual(lock.select().map((m) => m.name), ["a", "b"]);
  assert.deepStrictEqual(lock.select({ tier: "bench" }).map((m) => m.name), ["b"]);
  assert.deepStrictEqual(lock.select({ model: "a" }).map((m) => m.name), ["a"]);
  assert.throws(
    () => lock.select({ model: "z" }),
    (e: Error) => e instanceof RangeError && /lists a, b/.test(e.message),
  );
  assert.throws(() => lock.select({ tier: "gold" }), /the tiers are ci, integration, bench/);
  assert.throws(() => lock.select({ tier: "integration" }), /No model matches tier "integration"/);
  assert.throws(() => lock.select({ tier: "ci", model: "b" }), /tier "ci" and name "b"/);
});

Deno.test("Lockfile.load() of a missing file says how to point at one", async () => {
  await assert.rejects(
    () => Lockfile.load("/nonexistent/crossval-models.lock.json"),
    (e: Error) => e instanceof Deno.errors.NotFound && /--lockfile <path> or set BITNET_LOCKFILE/.test(e.message),
  );
});

Deno.test("the committed standalone validator is what Ajv generates from lockfile.schema.json", async () => {
  assert.equal(
    await Deno.readTextFile(GENERATED_VALIDATOR_PATH),
    generateLockfileValidatorSource(),
    "regenerate it: deno run -A lock/_gen_lockfile_validator.ts",
  );
});
