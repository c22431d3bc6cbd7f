/**
 * Where a C++ reference's source comes from, and the cache key that names its build: a source archive (keyed by its
 * SHA-256) or a user's git checkout (keyed by its commit plus a hash of its uncommitted changes, submodules
 * included). The same build path (`build_reference.ts`) takes either.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { type EnvReader, sha256File } from "../../lock/mod.ts";
import { PINNED_IK_LLAMA } from "./pinned.ts";

/** Which code base a source holds (decides the identity reported, not the build steps). */
export type ReferenceLibrary = "ik_llama.cpp" | "bitnet.cpp" | "llama.cpp";

/** A source archive (`.tar.xz`, `.tar.gz`, `.tar`) with one top-level folder. */
export interface ArchiveSource {
  /** Kind tag. */
  readonly kind: "archive";
  /** Code base. */
  readonly library: ReferenceLibrary;
  /** Absolute path of the archive. */
  readonly path: string;
  /** SHA-256 of the archive (the cache key). */
  readonly sha256: string;
  /** Commit the archive was made from, when known (the pinned archive), else `""`. */
  readonly commit: string;
}

/** A git checkout built out of tree (nothing is written into it). */
export interface CheckoutSource {
  /** Kind tag. */
  readonly kind: "checkout";
  /** Code base, detected from its files. */
  readonly library: ReferenceLibrary;
  /** Absolute path of the checkout. */
  readonly dir: string;
  /** `git rev-parse HEAD`. */
  readonly commit: string;
  /** SHA-256 (16 hex digits) of the uncommitted changes and untracked files, submodules included; null if clean. */
  readonly dirty: string | null;
}

/** Either kind of source. */
export type ReferenceSource = ArchiveSource | CheckoutSource;

/**
 * The cache key of a source: the archive's SHA-256, or `git-<commit>[-dirty-<hash>]` for a checkout.
 *
 * @param source The source.
 * @returns A file-name-safe key.
 * @example
 * ```ts
 * import { sourceKey } from "./reference_source.ts";
 * console.log(sourceKey({ kind: "checkout", library: "ik_llama.cpp", dir: "/src/ik", commit: "abc", dirty: null }));
 * // git-abc
 * ```
 */
export function sourceKey(source: ReferenceSource): string {
  if (source.kind === "archive") return source.sha256;
  return `git-${source.commit}${source.dirty ? `-dirty-${source.dirty}` : ""}`;
}

/** Thrown when a reference's source cannot be found or read; the message names the fix. */
export class ReferenceSourceError extends Error {
  /** An environment problem (missing tool, source or compiler failure): the CLI exits 2. */
  readonly exitCode = 2;
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ReferenceSourceError";
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The repository root of this source tree (two levels above this file). */
function repoRoot(): string | null {
  const url = new URL("../../", import.meta.url);
  return url.protocol === "file:" ? fileURLToPath(url).replace(/\/$/, "") : null;
}

/**
 * The folders searched for source archives, in order: `third_party/` in the repository, then `third_party/` in a
 * shared folder beside it (`../shared/third_party/`, where several checkouts of the project share one copy).
 *
 * @returns Absolute folder paths (they may not exist).
 */
export function archiveSearchDirs(): string[] {
  const root = repoRoot();
  return root ? [`${root}/third_party`, `${root}/../shared/third_party`] : [];
}

/**
 * Path of the pinned ik_llama.cpp archive: `BITNET_IK_ARCHIVE`, else the first search folder holding it.
 *
 * @param env Environment reader (tests pass a map); defaults to `Deno.env.get`.
 * @param dirs Folders to search (default {@link archiveSearchDirs}).
 * @returns The archive's absolute path.
 * @throws {ReferenceSourceError} When it is nowhere; the message lists where it looked and how to provide it.
 * @example
 * ```ts
 * import { locateIkArchive, PINNED_IK_LLAMA } from "./mod.ts";
 * // In a source tree, locateIkArchive() finds third_party/ik_llama.cpp-<commit>.tar.xz. Here: a folder of our own.
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/${PINNED_IK_LLAMA.archive}`, "");
 * console.log(locateIkArchive(() => undefined, [dir]).endsWith(`/${PINNED_IK_LLAMA.archive}`)); // true
 * try {
 *   locateIkArchive(() => undefined, []);
 * } catch (e) {
 *   console.log((e as Error).name); // "ReferenceSourceError" (the message says where to put it)
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function locateIkArchive(
  env: EnvReader = (n) => Deno.env.get(n),
  dirs: readonly string[] = archiveSearchDirs(),
): string {
  const explicit = env(PINNED_IK_LLAMA.env);
  if (explicit) {
    if (!exists(explicit)) {
      throw new ReferenceSourceError(
        `Cannot find the ik_llama.cpp source archive: ${PINNED_IK_LLAMA.env}=${explicit} does not exist. ` +
          `Fix: point ${PINNED_IK_LLAMA.env} at ${PINNED_IK_LLAMA.archive} (sha256 ${PINNED_IK_LLAMA.sha256}).`,
      );
    }
    return explicit;
  }
  for (const d of dirs) {
    const p = `${d}/${PINNED_IK_LLAMA.archive}`;
    if (exists(p)) return Deno.realPathSync(p);
  }
  throw new ReferenceSourceError(
    `Cannot find the ik_llama.cpp source archive ${PINNED_IK_LLAMA.archive} (looked in: ${
      dirs.join(", ") || "no folders: not running from a source tree"
    }). Fix: put it in third_party/ of this repository, or set ${PINNED_IK_LLAMA.env}=/path/to/${PINNED_IK_LLAMA.archive} ` +
      `(sha256 ${PINNED_IK_LLAMA.sha256}; made from ${PINNED_IK_LLAMA.upstream} at ${PINNED_IK_LLAMA.commit}), ` +
      `or use your own checkout: BITNET_CPP_DIR=/path/to/ik_llama.cpp.`,
  );
}

/**
 * Describe a source archive, hashing it. The pinned archive's commit is known; a different archive's is not.
 *
 * @param path Archive path.
 * @param opts.library Code base (default `ik_llama.cpp`).
 * @returns The source.
 * @throws {ReferenceSourceError} When the file cannot be read.
 * @example
 * ```ts
 * import { archiveSource } from "./reference_source.ts";
 * // Usually archiveSource(locateIkArchive()): the pinned archive, whose commit is known.
 * const path = await Deno.makeTempFile({ suffix: ".tar.xz" });
 * await Deno.writeTextFile(path, "another archive");
 * const src = await archiveSource(path, { library: "llama.cpp" });
 * console.log(src.library, src.sha256.length, src.commit); // "llama.cpp" 64 "" (not the pinned archive)
 * await Deno.remove(path);
 * ```
 */
export async function archiveSource(path: string, opts: { library?: ReferenceLibrary } = {}): Promise<ArchiveSource> {
  let sha256: string;
  try {
    sha256 = await sha256File(path);
  } catch (e) {
    throw new ReferenceSourceError(
      `Cannot read the reference source archive "${path}": ${(e as Error).message}. Fix: check the path.`,
      { cause: e },
    );
  }
  const pinned = sha256 === PINNED_IK_LLAMA.sha256;
  return {
    kind: "archive",
    library: pinned ? "ik_llama.cpp" : (opts.library ?? "ik_llama.cpp"),
    path: Deno.realPathSync(path),
    sha256,
    commit: pinned ? PINNED_IK_LLAMA.commit : "",
  };
}

async function git(dir: string, args: string[]): Promise<Uint8Array> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("git", { args: ["-C", dir, ...args], stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    throw new ReferenceSourceError(
      `Cannot describe the checkout "${dir}": git is not runnable (${(e as Error).message}). Fix: install git.`,
      { cause: e },
    );
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" ");
    throw new ReferenceSourceError(
      `Cannot describe the checkout "${dir}": git ${args.join(" ")} failed (${err}). ` +
        `Fix: BITNET_CPP_DIR must be a git checkout of ik_llama.cpp, llama.cpp or bitnet.cpp (with its submodule).`,
    );
  }
  return out.stdout;
}

/** Feeds the uncommitted state of a repository (and, recursively, its submodules) into `hash`; true if any. */
async function hashDirty(dir: string, hash: ReturnType<typeof createHash>): Promise<boolean> {
  const diff = await git(dir, ["diff", "HEAD", "--binary", "--no-ext-diff", "--ignore-submodules=all"]);
  const untracked = new TextDecoder().decode(await git(dir, ["ls-files", "--others", "--exclude-standard", "-z"]))
    .split("\0").filter(Boolean).sort();
  let dirty = diff.length > 0 || untracked.length > 0;
  hash.update(diff);
  for (const f of untracked) {
    hash.update(`\0untracked\0${f}\0`);
    try {
      hash.update(await Deno.readFile(`${dir}/${f}`));
    } catch {
      hash.update("\0unreadable\0");
    }
  }
  const subs = new TextDecoder().decode(await git(dir, ["submodule", "status"])).split("\n").filter(Boolean);
  for (const line of subs) {
    // " <sha> <path> (<describe>)", prefixed by "+" when the submodule's HEAD differs from the recorded commit.
    const m = /^[ +\-U]?([0-9a-f]+) (\S+)/.exec(line);
    if (!m) continue;
    const head = line.startsWith("+");
    hash.update(`\0submodule\0${m[2]}\0${m[1]}\0`);
    if (head) dirty = true;
    if (!line.startsWith("-") && exists(`${dir}/${m[2]}/.git`)) {
      if (await hashDirty(`${dir}/${m[2]}`, hash)) dirty = true;
    }
  }
  return dirty;
}

/** Which code base a checkout holds, from marker files. */
export function detectLibrary(dir: string): ReferenceLibrary {
  if (exists(`${dir}/src/ggml-bitnet-mad.cpp`) && exists(`${dir}/3rdparty/llama.cpp`)) return "bitnet.cpp";
  if (exists(`${dir}/ggml/src/iqk`) || exists(`${dir}/src/graphs/build_bitnet.cpp`)) return "ik_llama.cpp";
  return "llama.cpp";
}

/**
 * Describe a git checkout: its commit and a hash of its uncommitted state (tracked changes, untracked files,
 * submodule commits and their changes), so a changed checkout gets a new build and an unchanged one reuses it.
 *
 * @param dir Checkout root (ik_llama.cpp, llama.cpp, or bitnet.cpp with `3rdparty/llama.cpp`).
 * @returns The source.
 * @throws {ReferenceSourceError} When the folder is not a git checkout with a CMakeLists.txt.
 * @example
 * ```ts
 * import { checkoutSource, sourceKey } from "./reference_source.ts";
 * // A checkout of one commit (usually BITNET_CPP_DIR, an ik_llama.cpp or bitnet.cpp tree).
 * const dir = await Deno.makeTempDir();
 * const git = (...args: string[]) => new Deno.Command("git", { args: ["-C", dir, ...args] }).output();
 * await git("init", "-q");
 * await Deno.writeTextFile(`${dir}/CMakeLists.txt`, "project(example)\n");
 * await git("add", ".");
 * await git("-c", "user.name=example", "-c", "user.email=example@example.com", "commit", "-qm", "one");
 * console.log(sourceKey(await checkoutSource(dir))); // git-<commit>
 * await Deno.writeTextFile(`${dir}/new.c`, "int x;\n");
 * console.log(sourceKey(await checkoutSource(dir))); // git-<commit>-dirty-<hash of the uncommitted state>
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function checkoutSource(dir: string): Promise<CheckoutSource> {
  if (!exists(`${dir}/CMakeLists.txt`)) {
    throw new ReferenceSourceError(
      `Cannot build a reference from "${dir}": it has no CMakeLists.txt. ` +
        `Fix: BITNET_CPP_DIR must be the root of an ik_llama.cpp, llama.cpp or bitnet.cpp checkout.`,
    );
  }
  const abs = Deno.realPathSync(dir);
  const commit = new TextDecoder().decode(await git(abs, ["rev-parse", "HEAD"])).trim();
  const hash = createHash("sha256");
  const dirty = await hashDirty(abs, hash);
  return {
    kind: "checkout",
    library: detectLibrary(abs),
    dir: abs,
    commit,
    dirty: dirty ? hash.digest("hex").slice(0, 16) : null,
  };
}

/**
 * The ik_llama.cpp source to build: the user's checkout when `BITNET_CPP_DIR` names an ik_llama.cpp or bitnet.cpp
 * source tree, else the pinned archive.
 *
 * @param env Environment reader; defaults to `Deno.env.get`.
 * @returns The source, described (hashed).
 * @throws {ReferenceSourceError} When neither is available; the message names both fixes.
 */
export async function ikSourceFromEnv(env: EnvReader = (n) => Deno.env.get(n)): Promise<ReferenceSource> {
  const dir = env("BITNET_CPP_DIR");
  if (dir && exists(`${dir}/CMakeLists.txt`) && detectLibrary(dir) !== "llama.cpp") return await checkoutSource(dir);
  return await archiveSource(locateIkArchive(env));
}
