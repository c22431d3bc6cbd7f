/**
 * The exact llama.cpp source of the pinned release, provisioned from the npm registry: the package
 * `node-llama-cpp@3.22.1` ships it as a git bundle (`package/llama/gitRelease.bundle`). Tests use it for
 * `include/llama.h` (struct layouts), `models/ggml-vocab-*.gguf` with `.inp`/`.out` tokenizer vectors,
 * and `gguf-py` reference code. Provisioning needs `npm`, `tar` and `git` on PATH and runs once per cache.
 *
 * @module
 */

import { cacheRoot } from "../lock/cache_dir.ts";
import { PINNED_LLAMA } from "./library.ts";

async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    throw new Error(
      `Cannot provision the llama.cpp source: "${cmd}" is not runnable (${(e as Error).message}). ` +
        `Install it: provisioning needs npm, tar and git once.`,
      { cause: e },
    );
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(
      `Cannot provision the llama.cpp source: "${cmd} ${args.join(" ")}" failed:\n${err}\n` +
        `Fix what it reports (npm needs the registry reachable), then run again.`,
    );
  }
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * Path of the pinned llama.cpp source tree, provisioning it on first use.
 *
 * @param opts.cacheDir Overrides the cache root.
 * @returns Directory containing the checked-out source at {@link PINNED_LLAMA}.commit.
 * @throws {Error} When npm/tar/git are missing or the registry is unreachable; the message names the step.
 * @example
 * ```ts
 * import { llamaSourceDir } from "./llama_source.ts";
 * const src = await llamaSourceDir();
 * console.log(`${src}/include/llama.h`);
 * ```
 */
export async function llamaSourceDir(opts: { cacheDir?: string } = {}): Promise<string> {
  const root = `${opts.cacheDir ?? cacheRoot()}/llama.cpp-src`;
  const final = `${root}/${PINNED_LLAMA.packageVersion}`;
  try {
    await Deno.stat(`${final}/.complete`);
    return final;
  } catch {
    // not provisioned yet
  }
  await Deno.mkdir(root, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: root, prefix: ".staging-" });
  try {
    const pkg = `${PINNED_LLAMA.sourcePackage}@${PINNED_LLAMA.packageVersion}`;
    const tgz = (await run("npm", ["pack", pkg, "--silent", "--pack-destination", tmp], tmp)).split("\n").pop()!;
    await run("tar", ["xzf", tgz, "package/llama/gitRelease.bundle"], tmp);
    await run("git", ["clone", "-q", "package/llama/gitRelease.bundle", "src"], tmp);
    const head = await run("git", ["rev-parse", "HEAD"], `${tmp}/src`);
    if (head !== PINNED_LLAMA.commit) {
      throw new Error(
        `Cannot provision the llama.cpp source: ${pkg} holds commit ${head}, expected ${PINNED_LLAMA.commit}. ` +
          `Pin a package version and commit that agree (PINNED_LLAMA in ffi/library.ts).`,
      );
    }
    await Deno.writeTextFile(`${tmp}/src/.complete`, `${pkg} ${head}\n`);
    try {
      await Deno.rename(`${tmp}/src`, final);
    } catch (e) {
      // Another process finished first (rename onto a non-empty directory fails): its copy is identical.
      try {
        await Deno.stat(`${final}/.complete`);
      } catch {
        throw e;
      }
    }
    return final;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
