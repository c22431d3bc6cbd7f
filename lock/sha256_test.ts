import assert from "node:assert/strict";
import { digestFile, EMPTY_SHA256, HASH_CHUNK_BYTES, hashFilePrefix, sha256File } from "./sha256.ts";

async function webCryptoHex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

Deno.test("digestFile() and sha256File() match WebCrypto across chunk boundaries", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // One byte past two chunks: exercises full chunks and a 1-byte tail.
    for (const size of [0, 1, HASH_CHUNK_BYTES, 2 * HASH_CHUNK_BYTES + 1]) {
      const bytes = randomBytes(size);
      const path = `${dir}/f${size}`;
      await Deno.writeFile(path, bytes);
      const seen: number[] = [];
      const got = await digestFile(path, { onProgress: (n) => seen.push(n) });
      assert.equal(await sha256File(path), got.sha256);
      assert.deepStrictEqual(got, { sha256: await webCryptoHex(bytes), bytes: size });
      assert.deepStrictEqual(seen.at(-1) ?? 0, size);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hashFilePrefix() hashes exactly the prefix and can be continued", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = randomBytes(100_000);
    await Deno.writeFile(`${dir}/a`, bytes.subarray(0, 30_000));
    await Deno.writeFile(`${dir}/b`, bytes);
    const { hash, bytes: n } = await hashFilePrefix(`${dir}/b`, { length: 30_000 });
    assert.deepStrictEqual(n, 30_000);
    hash.update(bytes.subarray(30_000));
    assert.deepStrictEqual(hash.digest("hex"), await webCryptoHex(bytes));
    await assert.rejects(() => hashFilePrefix(`${dir}/a`, { length: 30_001 }), RangeError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EMPTY_SHA256 is the digest of no bytes", async () => {
  assert.deepStrictEqual(EMPTY_SHA256, await webCryptoHex(new Uint8Array(0)));
});

Deno.test("sha256File() stops when the signal aborts", async () => {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeFile(path, new Uint8Array(10));
    const ac = new AbortController();
    ac.abort(new DOMException("stop", "AbortError"));
    await assert.rejects(() => sha256File(path, { signal: ac.signal }), DOMException);
  } finally {
    await Deno.remove(path);
  }
});
