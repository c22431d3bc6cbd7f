import assert from "node:assert/strict";
import { cachedState, ensureCacheRoot, entryPaths, readMetadata, recordVerified, sameStamp, stampOf } from "./cache.ts";

const SHA = "0123456789abcdef".repeat(4);

Deno.test("entryPaths() refuses anything but a SHA-256 (it becomes a path)", () => {
  assert.equal(entryPaths("/c", SHA).model, `/c/${SHA}/model.gguf`);
  assert.equal(entryPaths("/c", SHA).lock, `/c/.locks/${SHA}.lock`);
  for (const bad of ["../../etc", SHA.toUpperCase(), SHA.slice(1), `${SHA}/x`]) {
    assert.throws(() => entryPaths("/c", bad), TypeError, bad);
  }
});

Deno.test("cachedState() trusts a file only while its recorded stamp holds", async () => {
  const root = await Deno.makeTempDir();
  try {
    await ensureCacheRoot(root);
    await ensureCacheRoot(root); // idempotent
    const paths = entryPaths(root, SHA);
    const entry = { name: "m", sha256: SHA, size_bytes: 4, url: "file:///m" };
    assert.equal(await cachedState(paths, entry), "missing");
    await Deno.mkdir(paths.dir);
    await Deno.writeFile(paths.model, new Uint8Array([1, 2, 3, 4]));
    assert.equal(await cachedState(paths, entry), "unverified", "no metadata yet");
    await recordVerified(paths, entry, { fetchedAt: "2026-01-01T00:00:00.000Z" });
    assert.equal(await cachedState(paths, entry), "trusted");
    assert.equal((await readMetadata(paths.metadata))?.fetched_at, "2026-01-01T00:00:00.000Z");
    // Any of: new mtime, replaced file (new inode), other expected size, makes it unverified.
    const t = new Date(Date.now() - 10_000);
    await Deno.utime(paths.model, t, t);
    assert.equal(await cachedState(paths, entry), "unverified");
    await recordVerified(paths, entry);
    assert.equal((await readMetadata(paths.metadata))?.fetched_at, "2026-01-01T00:00:00.000Z", "kept on re-verify");
    assert.equal(await cachedState(paths, { ...entry, size_bytes: 5 }), "unverified");
    await Deno.writeFile(`${paths.model}.new`, new Uint8Array([1, 2, 3, 4]));
    await Deno.rename(`${paths.model}.new`, paths.model);
    assert.equal(await cachedState(paths, entry), "unverified");
    await Deno.writeTextFile(paths.metadata, "{ not json");
    assert.equal(await readMetadata(paths.metadata), undefined);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("sameStamp() never trusts a stamp without an mtime", async () => {
  const path = await Deno.makeTempFile();
  try {
    const s = stampOf(await Deno.stat(path));
    assert.equal(sameStamp(s, { ...s }), true);
    assert.equal(sameStamp({ ...s, mtime_ms: null }, { ...s, mtime_ms: null }), false);
    assert.equal(sameStamp(s, { ...s, ino: (s.ino ?? 0) + 1 }), false);
  } finally {
    await Deno.remove(path);
  }
});
