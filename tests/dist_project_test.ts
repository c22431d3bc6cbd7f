/**
 * The CLI as a package user runs it (`deno run -A jsr:@bitnet/crossval <command>`, emulated with the repository's
 * `mod.ts` and `deno.json` from another directory): it works against the user's project directory, reading that
 * directory's lockfile and baseline and writing receipts under its `ci/`. Also: which lockfile wins, how the
 * llama.cpp library is found when the package's npm import is not available (what a compiled binary does), and
 * `BITNET_STRICT_MODE`. Needs the llama.cpp library.
 */
import assert from "node:assert/strict";
import { findLlamaNpmPackage, PINNED_LLAMA } from "../ffi/mod.ts";
import { crossval as runCli } from "../cli/_testing.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const MOD = `${ROOT}/mod.ts`;
const PACKAGED_LOCK = JSON.parse(await Deno.readTextFile(`${ROOT}/crossval-models.lock.json`));
const CI_ENTRY = PACKAGED_LOCK.models.find((m: { tier: string }) => m.tier === "ci");
const CI_NAMES: string[] = PACKAGED_LOCK.models.filter((m: { tier: string }) => m.tier === "ci").map((
  m: { name: string },
) => m.name);

/** A lockfile holding only the CI model, under another name. */
function lockfileNaming(name: string): string {
  return JSON.stringify({ ...PACKAGED_LOCK, $schema: undefined, models: [{ ...CI_ENTRY, name }] }, null, 2);
}

/** The package's CLI (`mod.ts` as its main module), run from the user's project directory `cwd`. */
const crossval = (args: string[], cwd: string, env: Record<string, string> = {}) =>
  runCli(args, { entry: MOD, cwd, env });

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

Deno.test("validate run from the package uses the project's lockfile and baseline and writes under its ci/", async () => {
  const proj = await Deno.makeTempDir({ prefix: "crossval-project-" });
  const cache = await Deno.makeTempDir({ prefix: "crossval-project-cache-" });
  const env = { BITNET_MODEL_CACHE_DIR: cache };
  try {
    await Deno.writeTextFile(`${proj}/crossval-models.lock.json`, lockfileNaming("my-tiny"));
    const v = await crossval(["validate", "--steps", "4"], proj, env);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /VALIDATE PASS/);
    const parity = JSON.parse(await Deno.readTextFile(`${proj}/ci/parity.json`));
    assert.equal(parity.model.lock_name, "my-tiny");
    assert.equal(parity.model_sha256, CI_ENTRY.sha256);
    assert.ok(await exists(`${proj}/ci/bench_my-tiny.json`));
    assert.ok(!(await exists(`${ROOT}/ci/bench_my-tiny.json`)), "receipts went to the package's directory");
    // The packaged baseline knows ci-tiny, not my-tiny.
    assert.match(v.stdout, /not in baseline/);
    const verified = await crossval(["receipt", "verify", "ci/parity.json", "ci/bench_my-tiny.json"], proj);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);

    // BITNET_STRICT_MODE=1: a comparison that cannot be made (the baseline has no my-tiny) fails the bench step.
    const strict = await crossval(["validate", "--steps", "4"], proj, { ...env, BITNET_STRICT_MODE: "1" });
    assert.equal(strict.code, 1, strict.stdout + strict.stderr);
    assert.match(strict.stdout, /bench\s*│\s*my-tiny\s*│\s*FAIL\s*│\s*strict: /);
    assert.match(strict.stdout, /VALIDATE FAIL/);
    const bogus = await crossval(["validate"], proj, { ...env, BITNET_STRICT_MODE: "yes" });
    assert.equal(bogus.code, 2);
    assert.match(bogus.stderr, /Invalid BITNET_STRICT_MODE="yes": expected 1 \(strict\) or 0/);

    // The project's own baseline (baselines gen writes docs/baselines/ under the working directory) is preferred.
    const gen = await crossval(["baselines", "gen", "--json"], proj);
    assert.equal(gen.code, 0, gen.stdout + gen.stderr);
    assert.ok(await exists(`${proj}/docs/baselines/latest-cpu.json`));
    const again = await crossval(["validate", "--steps", "4"], proj, env);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.doesNotMatch(again.stdout, /not in baseline/);
    assert.match(again.stdout, /bench\s*│\s*my-tiny\s*│\s*PASS\s*│.*; baseline /);

    // baselines verify against the packaged baseline (the ci tier only): its benchmarks are missing from the project's
    // receipts, a warning; in strict mode a failure.
    const pkgBaseline = `${ROOT}/docs/baselines/latest-cpu.json`;
    const lenient = await crossval(["baselines", "verify", "--baseline", pkgBaseline], proj);
    assert.equal(lenient.code, 0, lenient.stdout + lenient.stderr);
    assert.match(lenient.stdout, /warning:/);
    const strictVerify = await crossval(["baselines", "verify", "--baseline", pkgBaseline], proj, {
      BITNET_STRICT_MODE: "1",
    });
    assert.equal(strictVerify.code, 1, strictVerify.stdout);
    assert.match(strictVerify.stdout, /BASELINES FAIL \(BITNET_STRICT_MODE=1\)/);
  } finally {
    await Deno.remove(proj, { recursive: true });
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("lockfile precedence: --lockfile, then BITNET_LOCKFILE, then ./crossval-models.lock.json, then the packaged one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crossval-lockfiles-" });
  const cache = await Deno.makeTempDir({ prefix: "crossval-lockfiles-cache-" });
  try {
    await Deno.writeTextFile(`${dir}/crossval-models.lock.json`, lockfileNaming("cwd-tiny"));
    await Deno.writeTextFile(`${dir}/env.json`, lockfileNaming("env-tiny"));
    await Deno.writeTextFile(`${dir}/flag.json`, lockfileNaming("flag-tiny"));
    await Deno.mkdir(`${dir}/empty`);
    const names = async (cwd: string, args: string[], env: Record<string, string> = {}) => {
      const r = await crossval(["fetch", "--tier", "ci", "--offline", "--json", ...args], cwd, {
        BITNET_MODEL_CACHE_DIR: cache,
        ...env,
      });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const report = r.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((e) => e.type === "report");
      return report.models.map((m: { name: string }) => m.name);
    };
    const envLock = { BITNET_LOCKFILE: `${dir}/env.json` };
    assert.deepEqual(await names(dir, ["--lockfile", `${dir}/flag.json`], envLock), ["flag-tiny"]);
    assert.deepEqual(await names(dir, [], envLock), ["env-tiny"]);
    assert.deepEqual(await names(dir, []), ["cwd-tiny"]);
    assert.deepEqual(await names(`${dir}/empty`, []), CI_NAMES);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("without the package's npm import, llama.cpp is found in node_modules on disk (as the binary finds it)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crossval-llama-" });
  try {
    // A script with no deno.json: the import of the npm package fails, as in a compiled binary that excludes it.
    await Deno.writeTextFile(
      `${dir}/open.ts`,
      `import { LlamaLibrary } from ${JSON.stringify(`file://${ROOT}/ffi/mod.ts`)};\n` +
        `try {\n  const lib = await LlamaLibrary.open();\n` +
        `  console.log(JSON.stringify({ dir: lib.info.dir, version: lib.info.version, source: lib.info.source }));\n` +
        `} catch (e) {\n  console.log(JSON.stringify({ error: (e as Error).name, message: (e as Error).message }));\n}\n`,
    );
    await Deno.mkdir(`${dir}/work/deeper`, { recursive: true });
    const run = async () => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-config", `${dir}/open.ts`],
        cwd: `${dir}/work/deeper`,
        env: { BITNET_CPP_DIR: "" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      return JSON.parse(new TextDecoder().decode(out.stdout));
    };
    const absent = await run();
    assert.equal(absent.error, "LibraryLoadError");
    assert.match(absent.message, /npm i @node-llama-cpp\/linux-x64@3\.22\.1/);
    assert.match(absent.message, /BITNET_CPP_DIR/);
    assert.match(absent.message, /no node_modules\/@node-llama-cpp\/linux-x64 in .*work\/deeper/);

    // What `npm i @node-llama-cpp/linux-x64@3.22.1` in the project directory gives (linked from this checkout).
    await Deno.mkdir(`${dir}/node_modules/@node-llama-cpp`, { recursive: true });
    await Deno.symlink(
      await Deno.realPath(`${ROOT}/node_modules/@node-llama-cpp/linux-x64`),
      `${dir}/node_modules/@node-llama-cpp/linux-x64`,
    );
    const found = await run();
    assert.equal(found.error, undefined, found.message);
    assert.equal(found.source, "npm");
    assert.equal(found.dir, `${await Deno.realPath(dir)}/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64`);
    assert.ok(found.version.startsWith(PINNED_LLAMA.version), found.version);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findLlamaNpmPackage() names a wrong version and an incomplete package instead of using them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crossval-llama-bad-" });
  try {
    const pkg = `${dir}/a/node_modules/@node-llama-cpp/linux-x64`;
    await Deno.mkdir(`${pkg}/bins/linux-x64`, { recursive: true });
    await Deno.writeTextFile(
      `${pkg}/package.json`,
      JSON.stringify({ name: PINNED_LLAMA.npmPackage, version: "3.0.0" }),
    );
    await Deno.mkdir(`${dir}/a/b/c`, { recursive: true });
    const wrong = findLlamaNpmPackage([`${dir}/a/b/c`]);
    assert.equal(wrong.location, undefined);
    assert.deepEqual(wrong.rejected, [`${pkg} is version 3.0.0, not 3.22.1`]);

    await Deno.writeTextFile(
      `${pkg}/package.json`,
      JSON.stringify({ name: PINNED_LLAMA.npmPackage, version: "3.22.1" }),
    );
    await Deno.writeTextFile(`${pkg}/bins/linux-x64/libggml-base.so`, "");
    const incomplete = findLlamaNpmPackage([`${dir}/a/b/c`]);
    assert.equal(incomplete.location, undefined);
    assert.deepEqual(incomplete.rejected, [`${pkg} lacks libllama.v0.5.0.so, libggml.v0.5.0.so`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
