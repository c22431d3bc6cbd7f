/**
 * A hostile lockfile, server or cache against the fetcher: redirects to other hosts, schemes or plain HTTP, bodies
 * longer than the pinned size, lying Content-Lengths, symbolic links planted in the cache, a read-only and a full
 * cache directory. Each is refused with an error that names the fix, or handled; nothing is written outside the
 * cache, and nothing half-done is left in it.
 */
import assert from "node:assert/strict";
import {
  ChecksumMismatchError,
  DownloadError,
  type FetchEvent,
  fetchModels,
  type FetchOptions,
  InsufficientSpaceError,
  Lockfile,
  readMetadata,
  resolveModel,
  UnsafeCacheError,
} from "../lock/mod.ts";
import { CONFIG, crossval, MAIN } from "../cli/_testing.ts";
import { FaultServer, fixtureBytes, lockfileText, sha256Hex } from "../lock/_testing.ts";
import { withTempDir } from "./_fixtures.ts";

const SIZE = 600_000;
const FAST: FetchOptions = { retry: { baseDelayMs: 5, maxDelayMs: 20 }, progressIntervalMs: 0, headroomBytes: 0 };

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/** One model at `server:/m.gguf`, a fresh cache, and a fetch. */
async function withModel(
  fn: (
    t: {
      server: FaultServer;
      bytes: Uint8Array<ArrayBuffer>;
      sha: string;
      lock: Lockfile;
      cache: string;
      dir: string;
      events: FetchEvent[];
      fetch: (extra?: FetchOptions) => ReturnType<typeof fetchModels>;
    },
  ) => Promise<void>,
): Promise<void> {
  await using server = new FaultServer();
  const bytes = fixtureBytes(SIZE, 41);
  const lock = Lockfile.parse(lockfileText([{ name: "m", url: server.serve("/m.gguf", bytes), bytes }]));
  await withTempDir("fetch_hostile_", async (dir) => {
    const cache = `${dir}/cache`;
    const events: FetchEvent[] = [];
    await fn({
      server,
      bytes,
      sha: sha256Hex(bytes),
      lock,
      cache,
      dir,
      events,
      fetch: (extra = {}) => fetchModels(lock, { ...FAST, cacheDir: cache, onEvent: (e) => events.push(e), ...extra }),
    });
  });
}

// --- redirects ---

Deno.test("a redirect to another host is followed (as Hugging Face's CDN redirects are) and recorded", async () => {
  await using cdn = new FaultServer();
  await withModel(async (t) => {
    const target = cdn.serve("/blob/m.gguf", t.bytes);
    // The CDN drops the first body: the resume goes through the redirect again, with its Range.
    cdn.fault("/blob/m.gguf", { kind: "drop", afterBytes: 200_000 });
    t.server.fault("/m.gguf", { kind: "redirect", location: `${target}?sig=secret` }, {
      kind: "redirect",
      location: `${target}?sig=secret`,
      status: 307,
    });
    const r = await t.fetch();
    assert.equal(r.models[0].error, undefined, r.models[0].error?.message);
    assert.equal(r.models[0].status, "downloaded");
    assert.equal(r.models[0].final_url, target, "recorded without the query string");
    assert.deepStrictEqual(cdn.requests.map((x) => x.range), [null, "bytes=200000-"]);
    assert.equal(sha256Hex(await Deno.readFile(r.models[0].path)), t.sha);
    const meta = await readMetadata(`${t.cache}/${t.sha}/.metadata.json`);
    assert.equal(meta?.final_url, target);
    assert.equal(meta?.source_url, t.lock.models[0].url);
  });
});

const REFUSED: [string, string | null, RegExp][] = [
  ["a file: URL", "file:///etc/passwd", /follows only https \(not file:\)/],
  ["a data: URL", "data:application/octet-stream;base64,R0dVRg==", /not data:/],
  ["an ftp: URL", "ftp://mirror.example/m.gguf", /not ftp:/],
  ["a javascript: URL", "javascript:alert(1)", /not javascript:/],
  ["plain http to a remote host", "http://10.255.255.1/m.gguf", /plain http is followed only between loopback/],
  ["no Location", null, /without a Location header/],
];

for (const [what, location, re] of REFUSED) {
  Deno.test(`a redirect to ${what} is refused at once, not retried, and leaves nothing in the cache`, async () => {
    await withModel(async (t) => {
      t.server.fault("/m.gguf", { kind: "redirect", location: location ?? "" });
      const r = await t.fetch();
      const e = r.models[0].error;
      assert.ok(e instanceof DownloadError, String(e));
      assert.match(e.message, re);
      assert.match(e.message, /Fix: point the lockfile url at where the file really is/);
      assert.equal(t.server.requests.length, 1, "not retried");
      assert.deepStrictEqual(await names(`${t.cache}/${t.sha}`), [], "no entry left");
    });
  });
}

Deno.test("a redirect loop stops after 10 hops with the last URL named", async () => {
  await withModel(async (t) => {
    t.server.defaultFault = { kind: "redirect", location: "/m.gguf" };
    const r = await t.fetch();
    assert.ok(r.models[0].error instanceof DownloadError);
    assert.match(r.models[0].error.message, /more than 10 redirects \(last http:\/\/127\.0\.0\.1:\d+\/m\.gguf\)/);
    assert.equal(t.server.requests.length, 11);
  });
});

// --- bodies that do not match the pinned size ---

Deno.test("a body longer than size_bytes without a Content-Length fails before the extra bytes are stored", async () => {
  await withModel(async (t) => {
    t.server.fault("/m.gguf", { kind: "overlong", extraBytes: 5000 });
    const r = await t.fetch();
    const e = r.models[0].error;
    assert.ok(e instanceof ChecksumMismatchError, String(e));
    assert.ok(e.actualSize! > SIZE && e.actualSize! <= SIZE + 5000, `actual size ${e.actualSize}`);
    assert.deepStrictEqual(await names(`${t.cache}/${t.sha}`), [".error.json"], "only the explanation remains");
  });
});

Deno.test("a Content-Length smaller than size_bytes fails before any byte is stored", async () => {
  await withModel(async (t) => {
    t.server.fault("/m.gguf", { kind: "content-length", value: SIZE - 1 });
    const r = await t.fetch();
    assert.ok(r.models[0].error instanceof ChecksumMismatchError);
    assert.equal(r.models[0].error.actualSize, SIZE - 1);
    assert.equal(t.server.requests.length, 1);
  });
});

Deno.test("a server that sends more than its Content-Length says stores exactly the announced bytes", async () => {
  const bytes = fixtureBytes(SIZE, 43);
  // A raw HTTP/1.1 server: a correct Content-Length, then 4 KiB of junk after the body on the same connection.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    for await (const conn of listener) {
      const buf = new Uint8Array(8192);
      await conn.read(buf);
      const head =
        `HTTP/1.1 200 OK\r\ncontent-length: ${bytes.length}\r\ncontent-type: application/octet-stream\r\n\r\n`;
      await conn.write(new TextEncoder().encode(head)).catch(() => 0);
      for (let off = 0; off < bytes.length; off += 65536) await conn.write(bytes.subarray(off, off + 65536));
      await conn.write(new Uint8Array(4096).fill(0x5a)).catch(() => 0);
      conn.close();
    }
  })().catch(() => {});
  try {
    await withTempDir("fetch_lying_length_", async (dir) => {
      const { port } = listener.addr as Deno.NetAddr;
      const lock = Lockfile.parse(lockfileText([{ name: "m", url: `http://127.0.0.1:${port}/m.gguf`, bytes }]));
      const r = await fetchModels(lock, { ...FAST, cacheDir: dir });
      assert.equal(r.models[0].error, undefined, r.models[0].error?.message);
      const got = await Deno.readFile(r.models[0].path);
      assert.equal(got.length, SIZE);
      assert.equal(sha256Hex(got), sha256Hex(bytes));
    });
  } finally {
    listener.close();
    await served;
  }
});

// --- symbolic links planted in the cache ---

const PLANTED: [string, (root: string, sha: string) => string, "file" | "dir"][] = [
  ["the partial download", (r, s) => `${r}/${s}/model.gguf.partial`, "file"],
  ["the model", (r, s) => `${r}/${s}/model.gguf`, "file"],
  ["the sidecar", (r, s) => `${r}/${s}/model.gguf.partial.json`, "file"],
  ["the metadata", (r, s) => `${r}/${s}/.metadata.json`, "file"],
  ["the entry lock", (r, s) => `${r}/.locks/${s}.lock`, "file"],
  ["the entry directory", (r, s) => `${r}/${s}`, "dir"],
  ["the locks directory", (r) => `${r}/.locks`, "dir"],
];

for (const [what, at, kind] of PLANTED) {
  Deno.test(`a symbolic link planted as ${what} is refused, and its target is never touched`, async () => {
    await withModel(async (t) => {
      const victim = `${t.dir}/victim`;
      if (kind === "file") await Deno.writeFile(victim, t.bytes); // even the right bytes: a link is never trusted
      else await Deno.mkdir(victim);
      const link = at(t.cache, t.sha);
      await Deno.mkdir(link.slice(0, link.lastIndexOf("/")), { recursive: true });
      await Deno.symlink(victim, link);
      const r = await t.fetch();
      const e = r.models[0].error;
      assert.ok(e instanceof UnsafeCacheError, String(e));
      assert.equal(e.path, link);
      assert.match(e.message, new RegExp(`${link.replaceAll(".", "\\.")} is a symbolic link \\(to ${victim}\\)`));
      assert.match(e.message, /Fix: remove it \(rm '.*'\) and run crossval fetch again/);
      if (kind === "file") assert.equal(sha256Hex(await Deno.readFile(victim)), t.sha, "the target is intact");
      else assert.deepStrictEqual(await names(victim), [], "nothing written into the target directory");
      assert.equal(t.server.requests.length, 0);
      if (what === "the model") {
        await assert.rejects(() => resolveModel("m", { lockfile: t.lock, cacheDir: t.cache }), UnsafeCacheError);
        const v = await t.fetch({ verifyOnly: true });
        assert.equal(v.models[0].status, "corrupt");
      }
    });
  });
}

Deno.test("a file: source that is not a regular file (a FIFO) is refused instead of blocking", async () => {
  await withTempDir("fetch_fifo_", async (dir) => {
    const fifo = `${dir}/m.gguf`;
    const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(mk.success, "mkfifo");
    const bytes = fixtureBytes(10, 1);
    const lock = Lockfile.parse(lockfileText([{ name: "m", url: `file://${fifo}`, bytes }]));
    const r = await fetchModels(lock, { ...FAST, cacheDir: `${dir}/cache` });
    assert.ok(r.models[0].error instanceof DownloadError, String(r.models[0].error));
    assert.match(r.models[0].error.message, /it is not a regular file/);
  });
});

// --- hostile lockfiles on the command line ---

Deno.test("crossval fetch refuses a lockfile with path names and foreign schemes, listing each, and writes nothing", async () => {
  await withTempDir("fetch_hostile_lock_", async (dir) => {
    const bytes = fixtureBytes(10, 1);
    const entries = [
      { name: "../escape", url: "https://example.com/a.gguf" },
      { name: "a/b", url: "https://example.com/b.gguf" },
      { name: "/abs", url: "https://example.com/c.gguf" },
      { name: "d", url: "/etc/passwd" },
      { name: "e", url: "data:application/octet-stream;base64,AAAA" },
      { name: "f", url: "javascript:alert(1)" },
      { name: "g", url: "ftp://example.com/g.gguf" },
      { name: "h", url: "http://example.com/h.gguf" },
    ];
    await Deno.writeTextFile(`${dir}/lock.json`, lockfileText(entries.map((e) => ({ ...e, bytes }))));
    const r = await crossval(["fetch", "--lockfile", `${dir}/lock.json`, "--cache-dir", `${dir}/cache`]);
    assert.equal(r.code, 2, r.stderr);
    for (const re of [/models\[0\]\.name "\.\.\/escape": unsafe or invalid name/, /models\[1\]\.name "a\/b"/]) {
      assert.match(r.stderr, re);
    }
    assert.match(r.stderr, /models\[2\]\.name "\/abs"/);
    assert.match(r.stderr, /models\[3\]\.url: "\/etc\/passwd" is not a URL/);
    assert.match(r.stderr, /models\[4\]\.url: .*scheme data:/);
    assert.match(r.stderr, /models\[5\]\.url: .*scheme javascript:/);
    assert.match(r.stderr, /models\[6\]\.url: .*scheme ftp:/);
    assert.match(r.stderr, /models\[7\]\.url: .*only for loopback/);
    assert.deepStrictEqual(await names(`${dir}/cache`), [], "no cache directory created");
  });
});

// --- read-only and full cache directories (real filesystems: tmpfs in a private user+mount namespace) ---

/**
 * Runs shell `script` in a private user+mount namespace (`unshare -rm`, no root needed) with `$MNT` a fresh
 * directory, `crossval` the CLI and `$LOCKFILE` the lockfile; returns its output.
 */
async function inNamespace(dir: string, lockfile: string, script: string): Promise<{ out: string; code: number }> {
  const mnt = `${dir}/mnt`;
  await Deno.mkdir(mnt);
  const prelude = 'set -e\ncrossval() { "$DENO" run -A --config "$CONFIG" "$MAIN" "$@"; }\n';
  const out = await new Deno.Command("unshare", {
    args: ["-rm", "sh", "-c", prelude + script],
    env: { MNT: mnt, LOCKFILE: lockfile, DENO: Deno.execPath(), CONFIG, MAIN, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { out: text, code: out.code };
}

Deno.test("a read-only cache: fetching fails with the fix, and models already in it are still used", async () => {
  await withModel(async (t) => {
    const lockfile = `${t.dir}/lock.json`;
    await Deno.writeTextFile(lockfile, JSON.stringify(t.lock.toJSON()));
    const r = await inNamespace(
      t.dir,
      lockfile,
      `
      mount -t tmpfs -o ro,size=100m tmpfs "$MNT"   # room for the 64 MiB headroom once writable
      set +e
      crossval fetch --lockfile "$LOCKFILE" --cache-dir "$MNT/cache" --json > "$MNT/../out"
      echo "empty-ro exit $?"
      tail -1 "$MNT/../out"
      set -e
      mount -o remount,rw "$MNT"
      crossval fetch --lockfile "$LOCKFILE" --cache-dir "$MNT/cache" --json > /dev/null
      rm "$MNT/cache/${t.sha}/.metadata.json"   # the stamp is gone: the file must be re-hashed
      mount -o remount,ro "$MNT"
      set +e
      crossval fetch --lockfile "$LOCKFILE" --cache-dir "$MNT/cache" --json > "$MNT/../out"
      echo "populated-ro exit $?"
      tail -1 "$MNT/../out"
      crossval fetch --force --lockfile "$LOCKFILE" --cache-dir "$MNT/cache" --json > "$MNT/../out"
      echo "force-ro exit $?"
      tail -1 "$MNT/../out"
      `,
    );
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /empty-ro exit 2/);
    const reports = r.out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    const [empty, populated, forced] = reports;
    assert.match(empty.models[0].error.message, /Cannot write the model cache .*: it is on a read-only filesystem/);
    assert.equal(populated.models[0].status, "cached", r.out);
    assert.match(r.out, /populated-ro exit 0/);
    assert.match(forced.models[0].error.message, /on a read-only filesystem\. Fix: point BITNET_MODEL_CACHE_DIR/);
    assert.match(r.out, /force-ro exit 2/);
    assert.equal(t.server.requests.length, 1, "one download, while the cache was writable");
  });
});

Deno.test("a full cache: the fetch fails before transferring, names the space, and leaves no partial", async () => {
  await withModel(async (t) => {
    const lockfile = `${t.dir}/lock.json`;
    await Deno.writeTextFile(lockfile, JSON.stringify(t.lock.toJSON()));
    const r = await inNamespace(
      t.dir,
      lockfile,
      `
      mount -t tmpfs -o size=256k tmpfs "$MNT"
      mkdir "$MNT/cache"
      dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true   # fill the disk to the last block
      set +e
      crossval fetch --lockfile "$LOCKFILE" --cache-dir "$MNT/cache" --json > "$MNT/../out"
      echo "full exit $?"
      tail -1 "$MNT/../out"
      set -e
      echo "left: $(cd "$MNT/cache" && find . -type f | sort | tr '\\n' ' ')"
      `,
    );
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /full exit 2/);
    const report = JSON.parse(r.out.split("\n").find((l) => l.startsWith("{"))!);
    const e = report.models[0].error;
    assert.equal(e.name, InsufficientSpaceError.name, JSON.stringify(e));
    assert.match(e.message, /no space left on the device|needs \d+ bytes free/);
    assert.match(e.message, /Fix: free space/);
    assert.doesNotMatch(r.out, /left: .*model\.gguf/, "no model, no partial");
    assert.equal(t.server.requests.length, 0, "nothing transferred");
  });
});
