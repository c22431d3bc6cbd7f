/**
 * `crossval convert` as a user runs it: JSON output with the losslessness proof, refusals with the reason (exit 1,
 * nothing written), usage and environment errors (exit 2).
 */
import assert from "node:assert/strict";
import { crossval } from "../cli/_testing.ts";
import { fixtureModel, withTempDir } from "./_fixtures.ts";

Deno.test("crossval convert I2_S -> TQ2_0 --json reports every tensor and the element-for-element proof", async () => {
  const model = await fixtureModel({ type: "i2_s" });
  await withTempDir("convert_cli_", async (dir) => {
    const r = await crossval(["convert", model, "--to", "tq2_0", "--out", `${dir}/m.gguf`, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.target, "tq2_0");
    assert.equal(j.lossless.verified, true);
    assert.ok(j.lossless.elements > 0);
    assert.equal(j.tensors.length, 28);
    assert.ok(j.tensors.every((t: { from: string; to: string }) => t.from === "I2_S" && t.to === "TQ2_0"));
    assert.ok(j.tensors.every((t: { scale_tensor: string }) => t.scale_tensor === "written"));
    assert.match(j.sha256, /^[0-9a-f]{64}$/);
    assert.equal((await Deno.stat(`${dir}/m.gguf`)).size, j.size_bytes);

    const back = await crossval(["convert", `${dir}/m.gguf`, "--to", "i2_s", "--out", `${dir}/back.gguf`]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /28 \.scale tensors folded into the I2_S scale/);
    assert.match(back.stdout, /lossless: [\d,]+ weights in \d+ tensors equal element for element/);
    assert.deepEqual(await Deno.readFile(`${dir}/back.gguf`), await Deno.readFile(model));
  });
});

Deno.test("crossval convert refuses a lossy conversion with the reason, exit 1, and writes nothing", async () => {
  const model = await fixtureModel({ type: "i2_s", embd: 384, ff: 768, heads: 6, headsKv: 2 });
  await withTempDir("convert_cli_", async (dir) => {
    const r = await crossval(["convert", model, "--to", "tq1_0", "--out", `${dir}/m.gguf`]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /refused: Cannot convert .* to tq1_0 losslessly/);
    assert.match(r.stderr, /rows have 384 weights, not a whole number of TQ1_0's 256-weight blocks/);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    const j = await crossval(["convert", model, "--to", "tq1_0", "--out", `${dir}/m.gguf`, "--json"]);
    assert.equal(j.code, 1);
    assert.equal(JSON.parse(j.stdout).refused, true);
  });
});

Deno.test("crossval convert: unknown target or packing and a missing file are usage errors (exit 2)", async () => {
  const model = await fixtureModel({ type: "i2_s" });
  for (
    const args of [
      ["convert", model, "--to", "q4_0", "--out", "/nonexistent/x.gguf"],
      ["convert", model, "--to", "tq2_0", "--i2s-packing", "arm", "--out", "/nonexistent/x.gguf"],
      ["convert", "/nonexistent/model.gguf", "--to", "tq2_0", "--out", "/nonexistent/x.gguf"],
      ["convert", model, "--out", "/nonexistent/x.gguf"],
    ]
  ) {
    const r = await crossval(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
  }
});
