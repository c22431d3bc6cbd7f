/**
 * The fetcher end to end against a real local HTTP server: download, verify, cache layout, idempotence,
 * `force`, `verifyOnly` (missing, corrupt, extra), file sources, and resolveModel.
 */
import assert from "node:assert/strict";
import {
  type FetchEvent,
  fetchModels,
  type FetchOptions,
  Lockfile,
  ModelNotProvisionedError,
  readMetadata,
  resolveModel,
} from "./mod.ts";
import { FaultServer, fixtureBytes, lockfileText, sha256Hex } from "./_testing.ts";

const FAST: FetchOptions = { retry: { baseDelayMs: 5, maxDelayMs: 20 }, progressIntervalMs: 0 };

async function withCache(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fetch_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const rel = prefix + e.name;
    if (e.isDirectory) out.push(...await listTree(`${dir}/${e.name}`, `${rel}/`));
    else out.push(rel);
  }
  return out.sort();
}

Deno.test("fetchModels() downloads, verifies and lays out the cache; a second run downloads nothing", async () => {
  await using server = new FaultServer();
  const bytes = fixtureBytes(1_000_003, 7);
  const sha = sha256Hex(bytes);
  const lock = Lockfile.parse(lockfileText([{ name: "m", url: server.serve("/m.gguf", bytes), bytes }]));
  await withCache(async (cache) => {
    const events: FetchEvent[] = [];
    const first = await fetchModels(lock, { ...FAST, cacheDir: cache, onEvent: (e) => events.push(e) });
    assert.equal(first.ok, true);
    assert.equal(first.models[0].status, "downloaded");
    assert.equal(first.models[0].path, `${cache}/${sha}/model.gguf`);
    assert.deepStrictEqual(await Deno.readFile(first.models[0].path), bytes);
    assert.deepStrictEqual(
      await listTree(cache),
      [
        `.locks/${sha}.lock`,
        "CACHEDIR.TAG",
        `${sha}/.metadata.json`,
        `${sha}/model.gguf`,
      ].sort(),
    );
    assert.match(await Deno.readTextFile(`${cache}/CACHEDIR.TAG`), /^Signature: 8a477f597d28d172789f06886806bc55\n/);
    const meta = await readMetadata(`${cache}/${sha}/.metadata.json`);
    assert.equal(meta?.sha256, sha);
    assert.equal(meta?.size_bytes, bytes.length);
    assert.equal(meta?.source_url, lock.models[0].url);
    assert.equal(meta?.tool.name, "@bitnet/crossval");
    assert.equal(meta?.stamp.size, bytes.length);
    const types = events.map((e) => e.type);
    assert.deepStrictEqual([types[0], ...types.slice(-2)], ["start", "verified", "done"]);
    const last = events.filter((e) => e.type === "progress").at(-1);
    assert.equal(last?.type === "progress" && last.bytes_done, bytes.length);

    const requestsBefore = server.requests.length;
    const again: FetchEvent[] = [];
    const t0 = performance.now();
    const second = await fetchModels(lock, { ...FAST, cacheDir: cache, onEvent: (e) => again.push(e) });
    const warmMs = performance.now() - t0;
    assert.equal(second.models[0].status, "cached");
    assert.equal(server.requests.length, requestsBefore, "a warm fetch sends no request");
    assert.deepStrictEqual(again.map((e) => e.type), ["cached", "done"]);
    assert.equal(again[0].type === "cached" && again[0].verified_by, "stamp");
    assert.ok(warmMs < 100, `warm fetch took ${warmMs.toFixed(1)} ms`);
  });
});

Deno.test("fetchModels({force}) downloads again; a modified cached file is re-hashed and replaced", async () => {
  await using server = new FaultServer();
  const bytes = fixtureBytes(300_000, 8);
  const lock = Lockfile.parse(lockfileText([{ name: "m", url: server.serve("/m.gguf", bytes), bytes }]));
  await withCache(async (cache) => {
    await fetchModels(lock, { ...FAST, cacheDir: cache });
    const forced = await fetchModels(lock, { ...FAST, cacheDir: cache, force: true });
    assert.equal(forced.models[0].status, "downloaded");
    assert.equal(server.requests.length, 2);

    // Touch without changing content: the stamp changes, the hash still matches: cached after a re-hash.
    const path = forced.models[0].path;
    await Deno.utime(path, new Date(), new Date(Date.now() - 5000));
    const events: FetchEvent[] = [];
    const touched = await fetchModels(lock, { ...FAST, cacheDir: cache, onEvent: (e) => events.push(e) });
    assert.equal(touched.models[0].status, "cached");
    assert.ok(events.some((e) => e.type === "cached" && e.verified_by === "rehash"));
    assert.equal(server.requests.length, 2);

    // Flip one byte: the re-hash fails, the file is fetched again.
    using f = await Deno.open(path, { write: true });
    await f.seek(12345, Deno.SeekMode.Start);
    await f.write(new Uint8Array([bytes[12345] ^ 1]));
    const repaired = await fetchModels(lock, { ...FAST, cacheDir: cache });
    assert.equal(repaired.models[0].status, "downloaded");
    assert.deepStrictEqual(await Deno.readFile(path), bytes);
  });
});

Deno.test("fetchModels({verifyOnly}) reports a corrupted byte, a missing model and an extra entry (AC2)", async () => {
  await using server = new FaultServer();
  const a = fixtureBytes(200_000, 1), b = fixtureBytes(100_000, 2);
  const lock = Lockfile.parse(lockfileText([
    { name: "a", url: server.serve("/a.gguf", a), bytes: a, tier: "ci" },
    { name: "b", url: server.serve("/b.gguf", b), bytes: b, tier: "bench" },
  ]));
  await withCache(async (cache) => {
    await fetchModels(lock, { ...FAST, cacheDir: cache, tier: "ci" });
    const clean = await fetchModels(lock, { cacheDir: cache, verifyOnly: true, tier: "ci" });
    assert.equal(clean.ok, true);
    assert.equal(clean.models[0].status, "verified");

    const path = clean.models[0].path;
    // Flip one byte and restore the mtime: only a real re-hash can notice.
    const before = await Deno.stat(path);
    using f = await Deno.open(path, { write: true });
    await f.seek(99_999, Deno.SeekMode.Start);
    await f.write(new Uint8Array([a[99_999] ^ 0x80]));
    await Deno.utime(path, before.atime!, before.mtime!);
    await Deno.mkdir(`${cache}/${"0".repeat(64)}`);
    await Deno.writeTextFile(`${cache}/stray.txt`, "x");

    const requests = server.requests.length;
    const report = await fetchModels(lock, { cacheDir: cache, verifyOnly: true });
    assert.equal(report.ok, false);
    assert.deepStrictEqual(report.models.map((m) => m.status), ["corrupt", "missing"]);
    assert.equal(report.models[0].error?.name, "ChecksumMismatchError");
    assert.match(report.models[1].error!.message, /crossval fetch --model b/);
    assert.deepStrictEqual(report.extra, [`${cache}/${"0".repeat(64)}`, `${cache}/stray.txt`]);
    assert.equal(server.requests.length, requests, "verify-only never downloads");
  });
});

Deno.test("fetchModels() copies and verifies a file: source", async () => {
  await withCache(async (cache) => {
    const bytes = fixtureBytes(500_001, 3);
    const src = `${cache}/../${crypto.randomUUID()}.gguf`;
    await Deno.writeFile(src, bytes);
    try {
      const lock = Lockfile.parse(lockfileText([{ name: "f", url: new URL(`file://${src}`).href, bytes }]));
      const r = await fetchModels(lock, { cacheDir: `${cache}/models`, offline: true });
      assert.equal(r.models[0].status, "copied");
      assert.deepStrictEqual(await Deno.readFile(r.models[0].path), bytes);
    } finally {
      await Deno.remove(src);
    }
  });
});

Deno.test("fetchModels({offline}) makes no request: cached models pass, missing or corrupt ones fail", async () => {
  await using server = new FaultServer();
  const bytes = fixtureBytes(1000, 4);
  const lock = Lockfile.parse(lockfileText([{ name: "m", url: server.serve("/m.gguf", bytes), bytes }]));
  await withCache(async (cache) => {
    const r = await fetchModels(lock, { cacheDir: cache, offline: true });
    assert.equal(r.models[0].status, "failed");
    assert.equal(r.models[0].error?.name, "DownloadError");
    assert.match(r.models[0].error!.message, /offline mode and it is not in the cache/);
    assert.equal(server.requests.length, 0);
    // Cached: offline is fine. Cached but corrupt: offline cannot repair it, and says so.
    await fetchModels(lock, { cacheDir: cache });
    assert.equal((await fetchModels(lock, { cacheDir: cache, offline: true })).models[0].status, "cached");
    await Deno.writeFile(r.models[0].path, bytes.map((b) => b ^ 1));
    const corrupt = await fetchModels(lock, { cacheDir: cache, offline: true });
    assert.match(corrupt.models[0].error!.message, /offline mode and the cached copy failed verification/);
    assert.equal(server.requests.length, 1);
  });
});

Deno.test("resolveModel(): BITNET_GGUF wins, a cached entry resolves, a miss names the provisioning command", async () => {
  await using server = new FaultServer();
  const bytes = fixtureBytes(4096, 5);
  const lock = Lockfile.parse(lockfileText([{ name: "m", url: server.serve("/m.gguf", bytes), bytes, tier: "ci" }]));
  await withCache(async (cache) => {
    const env = (vars: Record<string, string>) => (n: string) => vars[n];
    await assert.rejects(
      () => resolveModel("m", { lockfile: lock, cacheDir: cache, env: env({}) }),
      (e: Error) =>
        e instanceof ModelNotProvisionedError && e.message.includes("crossval fetch --model m") &&
        e.message.includes("crossval fetch --tier ci"),
    );
    await fetchModels(lock, { cacheDir: cache });
    const hit = await resolveModel("m", { lockfile: lock, cacheDir: cache, env: env({}) });
    assert.deepStrictEqual([hit.source, hit.sha256, hit.path], [
      "cache",
      sha256Hex(bytes),
      `${cache}/${hit.sha256}/model.gguf`,
    ]);
    const viaEnv = await resolveModel("m", { lockfile: lock, cacheDir: cache, env: env({ BITNET_GGUF: hit.path }) });
    assert.equal(viaEnv.source, "BITNET_GGUF");
    await assert.rejects(
      () => resolveModel("m", { lockfile: lock, cacheDir: cache, env: env({ BITNET_GGUF: `${cache}/nope.gguf` }) }),
      (e: Error) => e instanceof ModelNotProvisionedError && /BITNET_GGUF/.test(e.message),
    );
    await assert.rejects(() => resolveModel("zzz", { lockfile: lock, cacheDir: cache, env: env({}) }), RangeError);
  });
});
