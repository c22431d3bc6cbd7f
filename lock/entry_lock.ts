/**
 * A lock per cache entry, so two processes fetching the same model produce one correct file, and a lock left by
 * a killed process never blocks anyone (huggingface_hub#2543: "Still waiting to acquire lock" forever).
 *
 * The rule (two modes; `auto` picks `flock` and falls back when the filesystem refuses it):
 *
 * - `flock` (default). `<root>/.locks/<sha256>.lock` is opened and locked with `flock(2)` (`Deno.FsFile.tryLock`).
 *   The kernel drops the lock when its process dies, however it dies, so a dead owner can never be "stale".
 *   The file is never deleted (deleting a flock file lets two processes lock two different inodes).
 *   The owner writes a record into it (pid, host, start time, nonce) and empties it on a clean release, so the
 *   next owner that finds a record knows the previous one was killed, and says so (`recovered`).
 * - `exclusive-create`, for filesystems without flock (Lustre without `-o flock`: ENOSYS). The lock is the
 *   existence of `<sha256>.lock.x`, created with O_EXCL and holding the owner record; the owner touches its mtime
 *   every `heartbeatMs`. A waiter breaks it when the owner is on this host and its pid is gone (or reused: the
 *   process start time differs), or when the heartbeat is older than `staleMs`. Breaking renames the file aside
 *   under a unique name and checks the nonce, so two breakers cannot both win; an owner whose file was replaced
 *   sees it at its next heartbeat and {@link EntryLock.assertHeld} throws before it touches the cache.
 *
 * Neither mode is trusted blindly: a model is renamed into place only after its SHA-256 matched, so a lock that
 * lies (huggingface_hub PR #4306: flock "silently succeeds" on some Lustre/GPFS/NFS mounts) can cost a failed
 * download but not a poisoned cache.
 *
 * @module
 */

import { abortableSleep } from "./retry.ts";

/** Who holds a lock. */
export interface LockOwner {
  /** Process id. */
  pid: number;
  /** `Deno.hostname()` ("unknown" without `--allow-sys`). */
  hostname: string;
  /** Process start time in clock ticks since boot (Linux `/proc/<pid>/stat` field 22), to detect pid reuse. */
  pid_start: string | null;
  /** When the lock was taken (RFC 3339). */
  acquired_at: string;
  /** Random id of this acquisition. */
  nonce: string;
}

/** Lock implementation; see the module documentation for the rule. */
export type LockMode = "flock" | "exclusive-create";

/** Options of {@link EntryLock.acquire}. */
export interface AcquireLockOptions {
  /** `auto` (default): flock, or exclusive-create where flock is unsupported. */
  mode?: "auto" | LockMode;
  /** Give up after this long (default 1 hour: the other process may be downloading gigabytes). */
  timeoutMs?: number;
  /** Poll interval while waiting (default 100 ms). */
  pollMs?: number;
  /** exclusive-create: a heartbeat older than this is stale (default 30 s = 6 missed heartbeats). */
  staleMs?: number;
  /** Heartbeat interval (default 5 s). */
  heartbeatMs?: number;
  /** Stops waiting with the signal's reason. */
  signal?: AbortSignal;
  /** Called when the lock is busy: at once, then about every 5 s, with the owner (if readable) and time waited. */
  onWait?: (info: { owner: LockOwner | undefined; heartbeatAgeMs: number | undefined; waitedMs: number }) => void;
}

/** Why an acquisition found a previous owner's record. */
export interface RecoveredLock {
  /** The previous owner. */
  owner: LockOwner;
  /** Why it was considered gone. */
  reason: string;
}

const FLOCK_UNSUPPORTED = /ENOSYS|ENOTSUP|EOPNOTSUPP|ENOLCK|not supported|not implemented|os error (38|95|37)\b/i;

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

async function pidStart(pid: number): Promise<string | null> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // Field 2 (comm) may contain spaces and parentheses: count fields after the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

/** `true`/`false` when known, `undefined` when this process may not ask (no `--allow-run`, other OS). */
async function ownerAlive(owner: LockOwner): Promise<boolean | undefined> {
  if (owner.hostname !== hostname() || owner.hostname === "unknown") return undefined;
  try {
    Deno.kill(owner.pid, 0); // signal 0: existence check only (kill(2))
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false; // ESRCH
    if (!(e instanceof Deno.errors.PermissionDenied)) return undefined; // EPERM means it exists
  }
  const start = await pidStart(owner.pid);
  if (start !== null && owner.pid_start !== null && start !== owner.pid_start) return false; // pid reused
  return true;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text);
    return o && typeof o.pid === "number" && typeof o.nonce === "string" ? o as LockOwner : undefined;
  } catch {
    return undefined;
  }
}

async function readOwner(path: string): Promise<{ owner: LockOwner | undefined; mtimeMs: number | undefined }> {
  try {
    const [text, info] = await Promise.all([Deno.readTextFile(path), Deno.stat(path)]);
    return { owner: parseOwner(text), mtimeMs: info.mtime?.getTime() };
  } catch {
    return { owner: undefined, mtimeMs: undefined };
  }
}

function describeOwner(o: LockOwner | undefined, ageMs: number | undefined): string {
  if (!o) return "an unknown process (no readable owner record)";
  const age = ageMs === undefined ? "" : `, last heartbeat ${(ageMs / 1000).toFixed(1)} s ago`;
  return `pid ${o.pid} on ${o.hostname} since ${o.acquired_at}${age}`;
}

/** An acquired entry lock. Release it with `close()` or `using`. */
export class EntryLock implements Disposable {
  /** Path of the lock file. */
  readonly path: string;
  /** Mode in use. */
  readonly mode: LockMode;
  /** This acquisition's owner record. */
  readonly owner: LockOwner;
  /** Set when a previous owner's lock was found abandoned and taken over. */
  readonly recovered: RecoveredLock | undefined;
  #file: Deno.FsFile | undefined;
  #ino: number | null;
  #timer: ReturnType<typeof setInterval>;
  #lost = false;

  private constructor(
    file: Deno.FsFile,
    held: {
      path: string;
      mode: LockMode;
      ino: number | null;
      owner: LockOwner;
      recovered: RecoveredLock | undefined;
      heartbeatMs: number;
    },
  ) {
    this.path = held.path;
    this.mode = held.mode;
    this.#file = file;
    this.#ino = held.ino;
    this.owner = held.owner;
    this.recovered = held.recovered;
    this.#timer = setInterval(() => this.#heartbeat(), held.heartbeatMs);
    // A forgotten lock must not keep the process alive.
    Deno.unrefTimer(this.#timer);
  }

  /**
   * Takes the lock for `path`, waiting while another live process holds it.
   *
   * @param path Lock path (`<root>/.locks/<sha256>.lock`); its directory must exist. In exclusive-create mode
   *   the file used is `<path>.x`.
   * @param options Mode, timeouts, heartbeat, abort signal, wait callback.
   * @returns The held lock.
   * @throws {Deno.errors.TimedOut} After `timeoutMs`; the message names the holder and how to free it.
   * @throws {DOMException} `AbortError` (the signal's reason) when aborted while waiting.
   * @example
   * ```ts
   * import { EntryLock } from "./entry_lock.ts";
   * const dir = await Deno.makeTempDir();
   * using lock = await EntryLock.acquire(`${dir}/x.lock`);
   * console.log(lock.mode); // "flock"
   * ```
   */
  static async acquire(path: string, options: AcquireLockOptions = {}): Promise<EntryLock> {
    const mode = options.mode ?? "auto";
    if (mode !== "exclusive-create") {
      try {
        return await EntryLock.#acquireFlock(path, options);
      } catch (e) {
        if (mode === "flock" || !FLOCK_UNSUPPORTED.test(String((e as Error)?.message))) throw e;
      }
    }
    return await EntryLock.#acquireExclusive(`${path}.x`, options);
  }

  static async #newOwner(): Promise<LockOwner> {
    return {
      pid: Deno.pid,
      hostname: hostname(),
      pid_start: await pidStart(Deno.pid),
      acquired_at: new Date().toISOString(),
      nonce: crypto.randomUUID(),
    };
  }

  /** Writes the owner record into the acquired lock file and starts the heartbeat. */
  static async #hold(
    file: Deno.FsFile,
    held: { path: string; mode: LockMode; owner: LockOwner; recovered: RecoveredLock | undefined },
    options: AcquireLockOptions,
  ): Promise<EntryLock> {
    await file.write(new TextEncoder().encode(JSON.stringify(held.owner) + "\n"));
    const ino = (await file.stat()).ino;
    return new EntryLock(file, { ...held, ino, heartbeatMs: options.heartbeatMs ?? 5000 });
  }

  static async #wait(
    path: string,
    options: AcquireLockOptions & { started: number; lastReport: { at: number } },
  ): Promise<void> {
    const { started, lastReport } = options;
    const timeoutMs = options.timeoutMs ?? 3_600_000;
    const { owner, mtimeMs } = await readOwner(path);
    const now = Date.now();
    const age = mtimeMs === undefined ? undefined : now - mtimeMs;
    if (now - started >= timeoutMs) {
      throw new Deno.errors.TimedOut(
        `Cannot lock ${path}: held by ${describeOwner(owner, age)} for longer than ${timeoutMs} ms. ` +
          `Fix: wait for that fetch to finish, or stop it (kill ${owner?.pid ?? "<pid>"}); ` +
          `its lock is released when it exits.`,
      );
    }
    if (lastReport.at === 0 || now - lastReport.at >= 5000) {
      lastReport.at = now;
      options.onWait?.({ owner, heartbeatAgeMs: age, waitedMs: now - started });
    }
    await abortableSleep(Math.min(options.pollMs ?? 100, Math.max(1, timeoutMs - (now - started))), options.signal);
  }

  static async #acquireFlock(path: string, options: AcquireLockOptions): Promise<EntryLock> {
    const started = Date.now();
    const report = { at: 0 };
    const file = await Deno.open(path, { read: true, write: true, create: true });
    try {
      while (!(await file.tryLock(true))) await EntryLock.#wait(path, { ...options, started, lastReport: report });
      // We own it. A non-empty record means the previous owner never released: the kernel freed its lock.
      const previous = parseOwner(await Deno.readTextFile(path).catch(() => ""));
      let recovered: RecoveredLock | undefined;
      if (previous) {
        const alive = await ownerAlive(previous);
        recovered = {
          owner: previous,
          reason: alive === false
            ? `pid ${previous.pid} is no longer running; the kernel released its lock`
            : `pid ${previous.pid} on ${previous.hostname} exited without releasing; the kernel released its lock`,
        };
      }
      await file.truncate(0);
      return await EntryLock.#hold(
        file,
        { path, mode: "flock", owner: await EntryLock.#newOwner(), recovered },
        options,
      );
    } catch (e) {
      file.close();
      throw e;
    }
  }

  static async #acquireExclusive(path: string, options: AcquireLockOptions): Promise<EntryLock> {
    const started = Date.now();
    const report = { at: 0 };
    const staleMs = options.staleMs ?? 30_000;
    let recovered: RecoveredLock | undefined;
    for (;;) {
      const owner = await EntryLock.#newOwner();
      let file: Deno.FsFile | undefined;
      try {
        file = await Deno.open(path, { write: true, createNew: true });
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
      if (file) {
        try {
          return await EntryLock.#hold(file, { path, mode: "exclusive-create", owner, recovered }, options);
        } catch (e) {
          file.close();
          await Deno.remove(path).catch(() => {});
          throw e;
        }
      }
      const { owner: holder, mtimeMs } = await readOwner(path);
      const age = mtimeMs === undefined ? undefined : Date.now() - mtimeMs;
      let reason: string | undefined;
      const alive = holder ? await ownerAlive(holder) : undefined;
      if (holder && alive === false) reason = `pid ${holder.pid} is no longer running`;
      else if (age !== undefined && age > staleMs && alive !== true) {
        reason = `no heartbeat for ${(age / 1000).toFixed(1)} s (stale after ${staleMs / 1000} s)`;
      }
      if (reason && await EntryLock.#breakStale(path, holder)) {
        if (holder) recovered = { owner: holder, reason };
        continue;
      }
      await EntryLock.#wait(path, { ...options, started, lastReport: report });
    }
  }

  /** Renames a stale lock aside; returns whether the one removed was the one judged stale. */
  static async #breakStale(path: string, judged: LockOwner | undefined): Promise<boolean> {
    const aside = `${path}.stale-${crypto.randomUUID()}`;
    try {
      await Deno.rename(path, aside);
    } catch {
      return false; // someone else broke it first
    }
    const { owner } = await readOwner(aside);
    if (judged !== undefined && owner?.nonce !== judged.nonce) {
      // We took a fresh lock that replaced the stale one in between: put it back unless yet another exists.
      await Deno.link(aside, path).catch(() => {});
      await Deno.remove(aside).catch(() => {});
      return false;
    }
    await Deno.remove(aside).catch(() => {});
    return true;
  }

  #heartbeat(): void {
    const file = this.#file;
    if (!file) return;
    const now = new Date();
    file.utime(now, now).catch(() => {});
    Deno.stat(this.path).then(
      (info) => {
        if (info.ino !== this.#ino) this.#lost = true;
      },
      () => {
        this.#lost = true;
      },
    );
  }

  /**
   * Checks that this process still owns the lock (its file was not replaced or removed by someone who judged it
   * stale). Call before any step that changes the cache.
   *
   * @throws {Error} When the lock was lost; the message says what to do.
   */
  assertHeld(): void {
    if (!this.#file) throw new Error(`Cannot use the lock ${this.path}: it was already released.`);
    let info: Deno.FileInfo | undefined;
    try {
      info = Deno.statSync(this.path);
    } catch {
      // removed
    }
    if (this.#lost || info?.ino !== this.#ino) {
      this.#lost = true;
      throw new Error(
        `Lost the lock ${this.path}: another process judged it stale and took it over (was this process ` +
          `suspended?). Nothing was written to the cache. Fix: run the fetch again.`,
      );
    }
  }

  /** Releases the lock (idempotent). */
  close(): void {
    const file = this.#file;
    if (!file) return;
    this.#file = undefined;
    clearInterval(this.#timer);
    try {
      if (this.mode === "flock") {
        // An empty record tells the next owner this release was clean.
        file.truncateSync(0);
        file.unlockSync();
      } else if (!this.#lost) {
        const info = Deno.statSync(this.path);
        if (info.ino === this.#ino) Deno.removeSync(this.path);
      }
    } catch {
      // Releasing must not throw from dispose; the kernel (flock) or staleness (exclusive) cleans up.
    } finally {
      file.close();
    }
  }

  /** Same as {@link EntryLock.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
