/**
 * The fetcher against a misbehaving real HTTP server (lock/_testing.ts): every fault must end either in
 * the right file in the cache, or in a clear error with the cache unchanged (and partials kept for resume).
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
  readSidecar,
} from "./mod.ts";
import { type Fault, FaultServer, fixtureBytes, lockfileText, sha256Hex } from "./_testing.ts";

const SIZE = 1_000_000;
const FAST: FetchOptions = { retry: { baseDelayMs: 5, maxDelayMs: 20 }, progressIntervalMs: 0, headroomBytes: 0 };

interface Run {
  server: FaultServer;
  bytes: Uint8Array;
  sha: string;
  lock: Lockfile;
  cache: string;
  events: FetchEvent[];
  fetch: (extra?: FetchOptions) => ReturnType<typeof fetchModels>;
}

/** One model served at /m.gguf with the given faults queued, a fresh cache, and a fetch function. */
async function scenario(faults: Fault[], fn: (run: Run) => Promise<void>): Promise<void> {
  await using server = new FaultServer();
  const bytes = fixtureBytes(SIZE, 11);
  const lock = Lockfile.parse(lockfileText([{ name: "m", url: server.serve("/m.gguf", bytes), bytes }]));
  server.fault("/m.gguf", ...faults);
  const cache = await Deno.makeTempDir({ prefix: "fetch_faults_" });
  const events: FetchEvent[] = [];
  try {
    await fn({
      server,
      bytes,
      sha: sha256Hex(bytes),
      lock,
      cache,
      events,
      fetch: (extra = {}) =>
        fetchModels(lock, {
          ...FAST,
          cacheDir: cache,
          onEvent: (e) => events.push(e),
          ...extra,
          retry: { ...FAST.retry, ...extra.retry },
        }),
    });
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
}

async function assertCachedRight(run: Run, report: Awaited<ReturnType<typeof fetchModels>>): Promise<void> {
  assert.equal(report.models[0].error, undefined, report.models[0].error?.message);
  assert.equal(report.models[0].status, "downloaded");
  assert.equal(sha256Hex(await Deno.readFile(report.models[0].path)), run.sha);
  const entry = [];
  for await (const e of Deno.readDir(`${run.cache}/${run.sha}`)) entry.push(e.name);
  assert.deepStrictEqual(entry.sort(), [".metadata.json", "model.gguf"], "no partial or sidecar left behind");
}

Deno.test("a connection dropped mid-body resumes with Range from the bytes on disk", async () => {
  await scenario([{ kind: "drop", afterBytes: 300_000 }], async (run) => {
    await assertCachedRight(run, await run.fetch());
    const [first, second] = run.server.requests;
    assert.deepStrictEqual([first.range, first.status], [null, 200]);
    assert.deepStrictEqual([second.range, second.status], ["bytes=300000-", 206]);
    assert.ok(second.ifRange, "the resume sends If-Range with the first response's ETag");
    assert.equal(run.server.bytesSent("/m.gguf"), SIZE, "no byte was downloaded twice");
    assert.equal(run.events.filter((e) => e.type === "retry").length, 1);
  });
});

Deno.test("a body that ends cleanly but short (truncated) is resumed; progress resets the attempt count", async () => {
  await scenario(
    [{ kind: "truncate", afterBytes: 123_457 }, { kind: "truncate", afterBytes: 200_000 }],
    async (run) => {
      // Two failures with maxAttempts 2 still succeed: each failed try made progress (huggingface_hub http_get).
      await assertCachedRight(run, await run.fetch({ retry: { maxAttempts: 2 } }));
      assert.deepStrictEqual(run.server.requests.map((r) => r.range), [null, "bytes=123457-", "bytes=323457-"]);
      const retry = run.events.find((e) => e.type === "retry");
      assert.match(retry?.type === "retry" ? retry.reason : "", /ended early at byte 123457 of 1000000/);
    },
  );
});

Deno.test("500s are retried with growing, jittered backoff until the server recovers", async () => {
  const status: Fault = { kind: "status", status: 500 };
  await scenario([status, status, status], async (run) => {
    await assertCachedRight(run, await run.fetch({ retry: { baseDelayMs: 20, maxDelayMs: 1000 } }));
    const retries = run.events.filter((e) => e.type === "retry");
    assert.deepStrictEqual(retries.map((e) => e.attempt), [1, 2, 3]);
    // Equal jitter: attempt n waits in [base*2^(n-1)/2, base*2^(n-1)].
    retries.forEach((e, i) => {
      const step = 20 * 2 ** i;
      assert.ok(e.delay_ms >= step / 2 - 1 && e.delay_ms <= step + 1, `attempt ${i + 1} waited ${e.delay_ms} ms`);
    });
  });
});

Deno.test("429 with Retry-After waits as long as the server asks", async () => {
  await scenario([{ kind: "status", status: 429, retryAfter: "1" }], async (run) => {
    const t0 = performance.now();
    await assertCachedRight(run, await run.fetch());
    assert.ok(performance.now() - t0 >= 1000, "Retry-After: 1 must delay the retry by a second");
    const retry = run.events.find((e) => e.type === "retry");
    assert.equal(retry?.type === "retry" && retry.delay_ms, 1000);
  });
});

Deno.test("a Retry-After beyond the limit fails at once instead of hanging", async () => {
  await scenario([{ kind: "status", status: 503, retryAfter: "3600" }], async (run) => {
    const r = await run.fetch({ retry: { maxRetryAfterMs: 60_000 } });
    assert.equal(r.models[0].error?.name, "DownloadError");
    assert.match(r.models[0].error!.message, /retry after 3600 s/);
  });
});

Deno.test("a server ignoring Range (200 on resume) makes the fetch restart from zero", async () => {
  await scenario([{ kind: "drop", afterBytes: 400_000 }, { kind: "ignore-range" }], async (run) => {
    await assertCachedRight(run, await run.fetch());
    assert.deepStrictEqual(run.server.requests.map((r) => [r.range, r.status]), [[null, 200], ["bytes=400000-", 200]]);
    const restart = run.events.find((e) => e.type === "restart");
    assert.equal(restart?.type === "restart" && restart.discarded_bytes, 400_000);
  });
});

Deno.test("a 206 whose Content-Range does not continue where we stopped restarts from zero", async () => {
  await scenario([{ kind: "drop", afterBytes: 10_000 }, { kind: "misaligned-range" }], async (run) => {
    await assertCachedRight(run, await run.fetch());
    assert.deepStrictEqual(run.server.requests.map((r) => r.range), [null, "bytes=10000-", null]);
  });
});

Deno.test("wrong bytes fail with ChecksumMismatchError and leave only an explanation in the cache", async () => {
  await scenario([{ kind: "wrong-bytes", flipAt: 777_777 }], async (run) => {
    const r = await run.fetch();
    const e = r.models[0].error;
    assert.ok(e instanceof ChecksumMismatchError);
    assert.equal(e.expectedSha256, run.sha);
    const wrong = run.bytes.slice();
    wrong[777_777] ^= 0xff;
    assert.equal(e.actualSha256, sha256Hex(wrong));
    assert.equal(run.server.requests.length, 1, "a checksum mismatch is not retried");
    const left = [];
    for await (const f of Deno.readDir(`${run.cache}/${run.sha}`)) left.push(f.name);
    assert.deepStrictEqual(left, [".error.json"]);
    const why = JSON.parse(await Deno.readTextFile(`${run.cache}/${run.sha}/.error.json`));
    assert.deepStrictEqual([why.error, why.expected_sha256, why.actual_sha256], [e.name, run.sha, e.actualSha256]);
    // The next good fetch clears the explanation.
    await assertCachedRight(run, await run.fetch());
  });
});

Deno.test("a Content-Length that disagrees with the lockfile fails before any byte is stored", async () => {
  await scenario([{ kind: "wrong-length" }], async (run) => {
    const r = await run.fetch();
    assert.ok(r.models[0].error instanceof ChecksumMismatchError);
    assert.match(r.models[0].error.message, /size mismatch: expected 1000000 bytes, the source has 1000001/);
    assert.equal(run.server.requests.length, 1);
  });
});

Deno.test("a 404 is not retried and says how to fix the lockfile", async () => {
  await using server = new FaultServer();
  const bytes = fixtureBytes(10, 1);
  const lock = Lockfile.parse(lockfileText([{ name: "m", url: `${server.origin}/missing.gguf`, bytes }]));
  const cache = await Deno.makeTempDir();
  try {
    const r = await fetchModels(lock, { ...FAST, cacheDir: cache });
    assert.ok(r.models[0].error instanceof DownloadError);
    assert.equal(r.models[0].error.status, 404);
    assert.match(r.models[0].error.message, /update the url in the lockfile/);
    assert.equal(server.requests.length, 1);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("a dead server fails after the configured attempts with a DownloadError", async () => {
  const server = new FaultServer();
  const url = `${server.origin}/m.gguf`;
  await server[Symbol.asyncDispose]();
  const bytes = fixtureBytes(10, 1);
  const lock = Lockfile.parse(lockfileText([{ name: "m", url, bytes }]));
  const cache = await Deno.makeTempDir();
  try {
    const events: FetchEvent[] = [];
    const r = await fetchModels(lock, {
      ...FAST,
      cacheDir: cache,
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
      onEvent: (e) => events.push(e),
    });
    assert.ok(r.models[0].error instanceof DownloadError);
    assert.equal(r.models[0].error.attempts, 3);
    assert.match(r.models[0].error.message, /3 attempts in a row without progress/);
    assert.match(r.models[0].error.message, /Connection refused/i, "the reason from the cause chain is shown");
    assert.equal(events.filter((e) => e.type === "retry").length, 2);
    await assert.rejects(() => Deno.stat(`${cache}/${sha256Hex(bytes)}`), Deno.errors.NotFound, "no empty entry left");
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("a slow server completes, with progress carrying a rate and an ETA", async () => {
  await scenario([{ kind: "slow", chunkBytes: 65_536, delayMs: 5 }], async (run) => {
    await assertCachedRight(run, await run.fetch({ progressIntervalMs: 10 }));
    const progress = run.events.filter((e) => e.type === "progress" && e.phase === "download");
    assert.ok(progress.length >= 3, `${progress.length} progress events`);
    const mid = progress.find((e) => e.type === "progress" && e.bytes_done < SIZE && e.rate_bps > 0);
    assert.ok(mid?.type === "progress" && mid.eta_s !== null && mid.eta_s > 0);
  });
});

Deno.test("a stalled response (bytes, then silence) is abandoned after stallMs and resumed", async () => {
  await scenario([{ kind: "stall", afterBytes: 250_000 }], async (run) => {
    await assertCachedRight(run, await run.fetch({ stallMs: 200 }));
    assert.deepStrictEqual(run.server.requests.map((r) => r.range), [null, "bytes=250000-"]);
    const retry = run.events.find((e) => e.type === "retry");
    assert.match(retry?.type === "retry" ? retry.reason : "", /stalled: no data for 200 ms/);
  });
});

Deno.test("a disk-space shortfall is an error before any request", async () => {
  await scenario([], async (run) => {
    const r = await run.fetch({ headroomBytes: 1000, availableBytes: () => Promise.resolve(SIZE) });
    const e = r.models[0].error;
    assert.ok(e instanceof InsufficientSpaceError);
    assert.equal(e.neededBytes, SIZE + 1000);
    assert.equal(e.availableBytes, SIZE);
    assert.equal(run.server.requests.length, 0);
  });
});

Deno.test("an aborted fetch keeps the partial; the next run re-hashes it and resumes", async () => {
  await scenario([{ kind: "slow", chunkBytes: 50_000, delayMs: 10 }], async (run) => {
    const ac = new AbortController();
    const onEvent = (e: FetchEvent) => {
      if (e.type === "progress" && e.bytes_done >= 300_000) ac.abort(new DOMException("interrupted", "AbortError"));
    };
    await assert.rejects(() => run.fetch({ signal: ac.signal, onEvent }), (e: Error) => e.name === "AbortError");
    const sidecar = await readSidecar(`${run.cache}/${run.sha}/model.gguf.partial.json`);
    const kept = (await Deno.stat(`${run.cache}/${run.sha}/model.gguf.partial`)).size;
    assert.ok(
      sidecar && sidecar.bytes_done === kept && kept >= 300_000,
      `kept ${kept}, sidecar ${sidecar?.bytes_done}`,
    );
    assert.equal(sidecar.sha256, run.sha);

    const report = await run.fetch();
    await assertCachedRight(run, report);
    assert.equal(report.models[0].resumed_from, kept);
    assert.equal(run.server.requests.at(-1)?.range, `bytes=${kept}-`);
    assert.ok(run.events.some((e) => e.type === "progress" && e.phase === "rehash" && e.bytes_done === kept));
  });
});

Deno.test("a corrupted partial is never promoted: the resumed hash fails and everything is discarded", async () => {
  await scenario([{ kind: "drop", afterBytes: 500_000 }], async (run) => {
    // First run: the drop leaves a partial; stop retrying so it stays.
    const first = await run.fetch({ retry: { maxAttempts: 1 } });
    assert.equal(first.models[0].error?.name, "DownloadError");
    const partial = `${run.cache}/${run.sha}/model.gguf.partial`;
    using f = await Deno.open(partial, { write: true });
    await f.seek(1234, Deno.SeekMode.Start);
    await f.write(new Uint8Array([run.bytes[1234] ^ 0x55]));
    const second = await run.fetch();
    assert.ok(second.models[0].error instanceof ChecksumMismatchError);
    await assert.rejects(() => Deno.stat(partial), Deno.errors.NotFound);
    await assertCachedRight(run, await run.fetch());
  });
});

Deno.test("a partial whose sidecar names another file is discarded, not resumed", async () => {
  await scenario([], async (run) => {
    const dir = `${run.cache}/${run.sha}`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(`${dir}/model.gguf.partial`, run.bytes.subarray(0, 1000));
    await Deno.writeTextFile(
      `${dir}/model.gguf.partial.json`,
      JSON.stringify({
        schema_version: "1.0.0",
        sha256: run.sha,
        size_bytes: SIZE,
        url: "https://elsewhere.example/m.gguf",
        validator: {},
        bytes_done: 1000,
        updated_at: new Date().toISOString(),
      }),
    );
    const r = await run.fetch();
    await assertCachedRight(run, r);
    assert.equal(r.models[0].resumed_from, 0);
    assert.equal(run.server.requests[0].range, null);
  });
});

Deno.test("ENOSPC during the transfer aborts without retrying and leaves the cache unchanged", async () => {
  // A real full disk: a 256 KiB tmpfs mounted in a private user+mount namespace (`unshare -rm`, no root needed),
  // holding the cache of a fetch that runs in that namespace. The free-space probe is told "plenty", as when
  // another process fills the disk after the check; the kernel then answers ENOSPC to the writes.
  await scenario([], async (run) => {
    const mod = new URL("./mod.ts", import.meta.url).href;
    const code = `
      import { fetchModels, Lockfile } from ${JSON.stringify(mod)};
      const dir = Deno.args[0];
      const lock = Lockfile.parse(Deno.env.get("LOCKFILE"));
      const r = await fetchModels(lock, { cacheDir: dir + "/cache", headroomBytes: 0,
        retry: { baseDelayMs: 5, maxDelayMs: 20 }, availableBytes: () => Promise.resolve(1e12) });
      const m = r.models[0];
      const entry = [];
      for await (const e of Deno.readDir(dir + "/cache/" + m.sha256)) entry.push(e.name);
      const sidecar = JSON.parse(await Deno.readTextFile(dir + "/cache/" + m.sha256 + "/model.gguf.partial.json"));
      const partial = (await Deno.stat(dir + "/cache/" + m.sha256 + "/model.gguf.partial")).size;
      console.log(JSON.stringify({ status: m.status, error: m.error?.name, message: m.error?.message,
        entry: entry.sort(), partial, sidecar_bytes: sidecar.bytes_done }));`;
    const mnt = `${run.cache}/mnt`;
    await Deno.mkdir(mnt);
    const out = await new Deno.Command("unshare", {
      args: [
        "-rm",
        "sh",
        "-c",
        'mount -t tmpfs -o size=256k tmpfs "$1" && exec "$2" eval "$3" "$1"',
        "sh",
        mnt,
        Deno.execPath(),
        code,
      ],
      env: { LOCKFILE: JSON.stringify(run.lock.toJSON()) },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.ok(out.success, `the namespaced fetch must run (needs unshare and user namespaces): ${stderr}`);
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(r.status, "failed");
    assert.equal(r.error, "InsufficientSpaceError");
    assert.match(r.message, /no space left on the device/);
    assert.deepStrictEqual(r.entry, ["model.gguf.partial", "model.gguf.partial.json"], "no model.gguf, nothing else");
    assert.ok(r.partial > 0 && r.partial < SIZE && r.sidecar_bytes <= r.partial, JSON.stringify(r));
    assert.equal(run.server.requests.length, 1, "ENOSPC is not retried");
  });
});
