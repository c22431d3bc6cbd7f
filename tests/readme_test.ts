/**
 * The README stays true: its tiny-model hash is what the generator produces, its quick-start commands are the
 * tasks that exist (and `.ci/run` runs the test one), and every command it lists answers `--help`.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { encodeGguf } from "../engine/gguf/mod.ts";
import { normalizeSpec, synthesizeModel } from "../engine/synth/mod.ts";
import { crossval } from "../cli/_testing.ts";

const root = new URL("..", import.meta.url);
const readme = await Deno.readTextFile(new URL("README.md", root));

Deno.test("README: the tiny seed-1 hash is what make-model generates", () => {
  const m = readme.match(
    /`make-model --preset tiny --seed 1` always produces the file with SHA-256\s+`([0-9a-f]{64})`/,
  );
  assert.ok(m, "README lost the tiny-model hash line");
  const bytes = encodeGguf(synthesizeModel(normalizeSpec({ preset: "tiny", seed: 1 })).gguf);
  assert.equal(createHash("sha256").update(bytes).digest("hex"), m[1]);
});

Deno.test("README: the two quick-start commands are deno tasks, and .ci/run runs the test one", async () => {
  const cmds = [...readme.matchAll(/^npx -y deno@2\.9\.6 task (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual(cmds, ["validate", "test"]);
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).tasks;
  for (const t of cmds) assert.ok(tasks[t!], `deno.json has no "${t}" task`);
  const ci = await Deno.readTextFile(new URL(".ci/run", root));
  assert.match(ci, /npx -y deno@2\.9\.6 task test/);
});

Deno.test("README: every `deno task` it mentions exists in deno.json, with a description", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).tasks;
  const named = new Set([...readme.matchAll(/deno task ([\w:]+)/g)].map((m) => m[1]!));
  for (const t of ["crossval", "test", "validate", "bench", "build:wasm", "check"]) named.add(t);
  for (const t of named) {
    assert.ok(tasks[t], `README names "deno task ${t}" but deno.json has no such task`);
    assert.ok(typeof tasks[t].description === "string" && tasks[t].description.length > 0, `task ${t}: no description`);
  }
});

Deno.test("README: every command in the reference table exists", async () => {
  const table = readme.slice(readme.indexOf("## Commands"), readme.indexOf("## Environment variables"));
  const names = [...table.matchAll(/^\| `([a-z-]+(?: [a-z]+)?)[ `]/gm)].map((m) => m[1]!);
  assert.ok(names.length >= 10, `only ${names.length} commands found in the README table`);
  for (const name of names) {
    const r = await crossval([...name.split(" "), "--help"]);
    assert.equal(r.code, 0, `crossval ${name} --help exited ${r.code}: ${r.stderr}`);
  }
});
