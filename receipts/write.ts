/**
 * Writing a file without ever leaving a half-written one: the one atomic-write helper of the project, used for
 * receipts and baselines (`cli/`), and for the cache's metadata, sidecars and error records (`lock/`).
 *
 * 1. The bytes go to a temporary file in the destination's directory (a rename is atomic only within one
 *    filesystem), named `.<name>.<pid>.<random>.tmp`: hidden, so `ci/*.json` and `bench_*.json` never match one,
 *    and created with O_CREAT|O_EXCL, so a symlink planted at that name is refused, never followed.
 * 2. The file is flushed to disk (`fsync`) and closed, then renamed over the destination (POSIX `rename(2)` replaces
 *    it atomically: a reader, or a process killed at any point, sees the old file or the new one, never a mix).
 * 3. The directory is flushed too, where the platform allows, so the rename survives a power loss.
 *
 * A process that exits through `Deno.exit` in the middle (the CLI's SIGINT and SIGTERM handlers do) removes its
 * temporary files on the way out (`unload`); one killed outright (SIGKILL) leaves its temporary file, and the next
 * write to the same destination removes temporary files of processes that no longer exist.
 *
 * @module
 */

/**
 * Write `data` to `path` atomically, creating the directory if needed.
 *
 * @param path Destination file.
 * @param data Text (written as UTF-8) or bytes.
 * @throws {Deno.errors.PermissionDenied} Or another `Deno.errors` class (read-only or full filesystem, a directory
 *   in the way), with a message that names `path`; the destination is then unchanged.
 * @example
 * ```ts
 * import { writeFileAtomic } from "./write.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a/b.txt`, "hello\n");
 * console.log(await Deno.readTextFile(`${dir}/a/b.txt`)); // "hello\n"
 * ```
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  const name = path.slice(slash + 1);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const tmp = `${dir}/.${name}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  inFlight.add(tmp);
  try {
    await Deno.mkdir(dir, { recursive: true });
    {
      using f = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
      let off = 0;
      while (off < bytes.length) off += await f.write(bytes.subarray(off));
      await f.sync();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw explained(e, path);
  } finally {
    inFlight.delete(tmp);
  }
  await syncDir(dir);
  await removeStaleTemps(dir, name);
}

/**
 * Write `value` as pretty JSON (two-space indent, final newline) to `path` atomically ({@link writeFileAtomic}).
 *
 * @param path Destination file.
 * @param value JSON-serialisable value.
 * @throws {Deno.errors.PermissionDenied} Or another `Deno.errors` class, naming `path` (see {@link writeFileAtomic}).
 * @example
 * ```ts
 * import { writeJsonAtomic } from "./write.ts";
 * const dir = await Deno.makeTempDir();
 * await writeJsonAtomic(`${dir}/r.json`, { status: "pass" });
 * console.log(JSON.parse(await Deno.readTextFile(`${dir}/r.json`)).status); // "pass"
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/** Temporary files being written now; removed if the process exits before their rename. */
const inFlight = new Set<string>();
globalThis.addEventListener("unload", () => {
  for (const tmp of inFlight) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // already renamed or never created
    }
  }
});

/** The same error class, with a message that names the destination (not the temporary file) and the fix. */
function explained(e: unknown, path: string): unknown {
  if (!(e instanceof Error)) return e;
  // Deno appends the syscall and its paths (`: rename '/d/.r.json.1.ab.tmp' -> '/d/r.json'`): drop them.
  const why = e.message.replace(/:?\s*(open|rename|mkdir|write|remove)?\s*'[^']*'(\s*->\s*'[^']*')?/g, "").trim();
  const fix = /os error 30|read-only/i.test(e.message)
    ? "the filesystem is read-only: write somewhere writable (--out, --out-dir, BITNET_MODEL_CACHE_DIR)"
    : /os error (28|122)|no space|quota/i.test(e.message)
    ? "the disk is full: free space, or write elsewhere"
    : e instanceof Deno.errors.PermissionDenied
    ? "make the directory writable, or write somewhere else"
    : e instanceof Deno.errors.AlreadyExists || e instanceof Deno.errors.IsADirectory
    ? "something else is in the way of that path: move it, or write elsewhere"
    : "check the path";
  const message = `Cannot write ${path}: ${why}. It is unchanged. Fix: ${fix}.`;
  const Ctor = e.constructor as new (message: string, options?: ErrorOptions) => Error;
  try {
    const out = new Ctor(message, { cause: e });
    if (out.message === message) return out;
  } catch {
    // a constructor with another signature: fall back to a plain Error below
  }
  return new Error(message, { cause: e });
}

async function syncDir(dir: string): Promise<void> {
  try {
    using d = await Deno.open(dir, { read: true });
    await d.sync();
  } catch {
    // Not every platform can open or fsync a directory (Windows); the rename itself is still atomic.
  }
}

/** Removes `.<name>.<pid>.<random>.tmp` files whose writer no longer runs (best effort: needs kill permission). */
async function removeStaleTemps(dir: string, name: string): Promise<void> {
  const prefix = `.${name}.`;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !e.name.startsWith(prefix) || !e.name.endsWith(".tmp")) continue;
      const m = /^(\d+)\.[0-9a-f]{8}\.tmp$/.exec(e.name.slice(prefix.length));
      if (!m || Number(m[1]) === Deno.pid || processExists(Number(m[1]))) continue;
      await Deno.remove(`${dir}/${e.name}`).catch(() => {});
    }
  } catch {
    // a directory we may not list: leave it
  }
}

function processExists(pid: number): boolean {
  try {
    Deno.kill(pid, 0); // signal 0: an existence check only (kill(2))
    return true;
  } catch (e) {
    return !(e instanceof Deno.errors.NotFound); // ESRCH: gone; EPERM or no permission: assume alive
  }
}
