import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { PartialWriter, readSidecar } from "./partial.ts";

const SIDE = { sha256: "ab".repeat(32), size_bytes: 10, url: "https://example.com/m", validator: {} };

Deno.test("PartialWriter appends, hashes, checkpoints and restarts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/m.partial`;
    const seen: number[] = [];
    {
      using w = await PartialWriter.open(path, {
        sidecar: SIDE,
        progressIntervalMs: 0,
        onProgress: (p) => seen.push(p.bytesDone),
      });
      assert.equal((await readSidecar(`${path}.json`))?.bytes_done, 0, "the sidecar exists from the start");
      await w.write(new Uint8Array([1, 2, 3]));
      await w.write(new Uint8Array([4, 5]));
      await w.checkpoint();
      assert.equal((await readSidecar(`${path}.json`))?.bytes_done, 5);
      assert.deepStrictEqual(seen, [3, 5]);
      assert.equal(
        w.hash.copy().digest("hex"),
        createHash("sha256").update(new Uint8Array([1, 2, 3, 4, 5])).digest("hex"),
      );
      await w.restart();
      await w.write(new Uint8Array([9]));
      await w.finish();
    }
    assert.deepStrictEqual(await Deno.readFile(path), new Uint8Array([9]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PartialWriter.open() keeps a prefix and truncates what follows it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/m.partial`;
    await Deno.writeFile(path, new Uint8Array([1, 2, 3, 4, 5, 6]));
    const hash = createHash("sha256").update(new Uint8Array([1, 2, 3]));
    using w = await PartialWriter.open(path, { sidecar: SIDE, keep: 3, hash });
    await w.write(new Uint8Array([7]));
    const digest = w.hash.digest("hex");
    await w.finish();
    assert.deepStrictEqual(await Deno.readFile(path), new Uint8Array([1, 2, 3, 7]));
    assert.equal(digest, createHash("sha256").update(new Uint8Array([1, 2, 3, 7])).digest("hex"));
    await assert.rejects(() => PartialWriter.open(path, { sidecar: SIDE, keep: 2 }), TypeError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readSidecar() rejects malformed sidecars", async () => {
  const path = await Deno.makeTempFile();
  try {
    for (const bad of ["", "{}", JSON.stringify({ ...SIDE, schema_version: "1.0.0", bytes_done: -1 })]) {
      await Deno.writeTextFile(path, bad);
      assert.equal(await readSidecar(path), undefined, bad);
    }
  } finally {
    await Deno.remove(path);
  }
});
