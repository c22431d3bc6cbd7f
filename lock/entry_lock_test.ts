import assert from "node:assert/strict";
import { EntryLock, type LockMode, type LockOwner } from "./entry_lock.ts";

const MODES: LockMode[] = ["flock", "exclusive-create"];

/** Starts a real process that takes the lock, waits until it holds it, and returns it (to be killed). */
async function holdInChild(path: string, mode: LockMode): Promise<Deno.ChildProcess> {
  const mod = new URL("./entry_lock.ts", import.meta.url).href;
  const code = `import { EntryLock } from ${JSON.stringify(mod)};
    const lock = await EntryLock.acquire(${JSON.stringify(path)}, { mode: ${JSON.stringify(mode)} });
    console.log("locked");
    setInterval(() => {}, 1000);`;
  const child = new Deno.Command(Deno.execPath(), { args: ["eval", code], stdout: "piped", stderr: "inherit" })
    .spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("locked")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`lock holder exited early: ${out}`);
    out += value;
  }
  reader.releaseLock();
  return child;
}

async function killHard(child: Deno.ChildProcess): Promise<void> {
  child.kill("SIGKILL");
  await child.status;
  await child.stdout.cancel().catch(() => {});
}

for (const mode of MODES) {
  Deno.test(`EntryLock (${mode}) excludes a second holder until released, then hands over cleanly`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/e.lock`;
      const first = await EntryLock.acquire(path, { mode });
      const waits: (LockOwner | undefined)[] = [];
      await assert.rejects(
        () => EntryLock.acquire(path, { mode, timeoutMs: 150, pollMs: 10, onWait: (w) => waits.push(w.owner) }),
        (e: Error) => e instanceof Deno.errors.TimedOut && e.message.includes(`pid ${Deno.pid}`),
      );
      assert.equal(waits[0]?.nonce, first.owner.nonce, "the waiter saw who holds the lock");
      first.close();
      using second = await EntryLock.acquire(path, { mode, timeoutMs: 1000 });
      assert.equal(second.recovered, undefined, "a clean release is not reported as recovered");
      second.assertHeld();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`EntryLock (${mode}) recovers the lock of a SIGKILLed process`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/e.lock`;
      const child = await holdInChild(path, mode);
      await assert.rejects(() => EntryLock.acquire(path, { mode, timeoutMs: 100, pollMs: 10 }), Deno.errors.TimedOut);
      await killHard(child);
      using lock = await EntryLock.acquire(path, { mode, timeoutMs: 5000, pollMs: 10 });
      assert.equal(lock.recovered?.owner.pid, child.pid);
      assert.match(lock.recovered!.reason, /no longer running/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`EntryLock (${mode}) waiting stops when the signal aborts`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      using _held = await EntryLock.acquire(`${dir}/e.lock`, { mode });
      const ac = new AbortController();
      setTimeout(() => ac.abort(new DOMException("stop", "AbortError")), 30);
      await assert.rejects(
        () => EntryLock.acquire(`${dir}/e.lock`, { mode, signal: ac.signal, pollMs: 5 }),
        (e: Error) => e.name === "AbortError",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("EntryLock (exclusive-create) breaks a lock whose heartbeat stopped, from another host", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/e.lock`;
    const other: LockOwner = {
      pid: 1,
      hostname: "some-other-host",
      pid_start: null,
      acquired_at: new Date(0).toISOString(),
      nonce: crypto.randomUUID(),
    };
    await Deno.writeTextFile(`${path}.x`, JSON.stringify(other));
    // Fresh heartbeat: the owner may be alive on its host, so we wait.
    await assert.rejects(
      () => EntryLock.acquire(path, { mode: "exclusive-create", staleMs: 60_000, timeoutMs: 100, pollMs: 10 }),
      Deno.errors.TimedOut,
    );
    const old = new Date(Date.now() - 120_000);
    await Deno.utime(`${path}.x`, old, old);
    using lock = await EntryLock.acquire(path, { mode: "exclusive-create", staleMs: 60_000, timeoutMs: 1000 });
    assert.equal(lock.recovered?.owner.nonce, other.nonce);
    assert.match(lock.recovered!.reason, /no heartbeat for 1[12]\d\.\d s/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EntryLock.assertHeld() throws once another process replaced a lock it judged stale", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/e.lock`;
    const lock = await EntryLock.acquire(path, { mode: "exclusive-create" });
    lock.assertHeld();
    await Deno.remove(`${path}.x`);
    await Deno.writeTextFile(`${path}.x`, "{}");
    assert.throws(() => lock.assertHeld(), /Lost the lock/);
    lock.close();
    assert.equal(await Deno.readTextFile(`${path}.x`), "{}", "closing a lost lock leaves the new owner's file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EntryLock heartbeat refreshes the lock file's mtime", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/e.lock`;
    using _lock = await EntryLock.acquire(path, { heartbeatMs: 20 });
    const old = new Date(Date.now() - 60_000);
    await Deno.utime(path, old, old);
    await new Promise((r) => setTimeout(r, 120));
    const age = Date.now() - (await Deno.stat(path)).mtime!.getTime();
    assert.ok(age < 1000, `heartbeat age ${age} ms`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const mode of MODES) {
  Deno.test(`EntryLock (${mode}) is taken over a torn owner record (a holder killed while writing it)`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "entry_lock_torn_" });
    try {
      const path = `${dir}/x.lock`;
      // What a SIGKILL between the write's first and last byte leaves; for exclusive-create, from a pid that is gone.
      await Deno.writeTextFile(mode === "flock" ? path : `${path}.x`, '{"pid": 2147483646, "hostna');
      const t0 = Date.now();
      using lock = await EntryLock.acquire(path, { mode, staleMs: 200, pollMs: 20, timeoutMs: 5000 });
      assert.ok(Date.now() - t0 < 5000);
      assert.equal(lock.recovered, undefined, "an unreadable record names no owner");
      lock.assertHeld();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
