import assert from "node:assert/strict";
import { generateModelFile } from "./generate_source.ts";
import { digestFile } from "./sha256.ts";

Deno.test("generateModelFile() is deterministic and reports the hash of what it wrote", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const params = { preset: "tiny", arch: "bitnet", type: "tq2_0", "embed-type": "f16", seed: "7" };
    const a = await generateModelFile(`${dir}/a`, params);
    const b = await generateModelFile(`${dir}/b`, params);
    assert.deepStrictEqual(a, b);
    assert.equal(a.spec, "preset=tiny&arch=bitnet&type=tq2_0&embed-type=f16&seed=7");
    assert.deepStrictEqual(await digestFile(`${dir}/a`), { sha256: a.sha256, bytes: a.bytes });
    const other = await generateModelFile(`${dir}/c`, { ...params, seed: "8" });
    assert.notEqual(other.sha256, a.sha256);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generateModelFile() rejects an impossible spec with a TypeError naming it", async () => {
  await assert.rejects(
    () => generateModelFile("/nonexistent/x", { preset: "tiny", embd: "100" }),
    (e: Error) => e instanceof TypeError && /make-model\?preset=tiny&embd=100/.test(e.message),
  );
});
