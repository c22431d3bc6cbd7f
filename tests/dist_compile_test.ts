/**
 * The single binary (`deno task compile`, cli/compile.ts).
 *
 * 1. Everywhere: `deno compile` with our arguments type-checks the CLI graph and embeds the kernels, the worker
 *    module, the default lockfile and the baseline, and leaves llama.cpp's libraries out. `deno compile` writes the
 *    program into `denort`, Deno's runtime-only binary; here the full `deno` binary stands in for it (the embedded
 *    file list and the payload are the same; the product does not run, see docs/adr/0008-single-binary.md).
 * 2. Where `denort` can be had (`DENORT_BIN`, Deno's download cache, or dl.deno.land): the real binary, run with an
 *    empty environment (no Deno on PATH), does `--version`, `make-model`, `inspect`, `run`, `fetch`; `validate`
 *    without llama.cpp (exit 2, naming the fixes); then with it `validate` (PASS, the same parity numbers as the
 *    source tree, receipts that the source tree verifies), `parity` and `bench`. Where it cannot be had this test is
 *    ignored and the reason printed:
 *    the project's build machines reach only npm and apt, and neither ships `denort`.
 */
import assert from "node:assert/strict";
import { stripVTControlCharacters } from "node:util";
import { COMPILE_INCLUDES, compileArgs, denortSource, denortUrl, REPO_ROOT } from "../cli/compile.ts";
import { kernelBuildHash } from "../cli/version.ts";
import { cacheRoot } from "../lock/cache_dir.ts";

const DENORT = await denortSource({ timeoutMs: 5000 });
const GATE = DENORT.kind === "unavailable" ? DENORT.reason : null;
if (GATE) {
  console.error(
    `dist_compile_test: "the compiled binary runs validate" is IGNORED: deno compile needs denort and ${GATE}. ` +
      `Set DENORT_BIN=/path/to/denort (unzipped from ${denortUrl()}) to run it.`,
  );
}

const dec = new TextDecoder();

async function run(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string>; clear?: boolean }) {
  const out = await new Deno.Command(cmd, {
    args,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    env: { NO_COLOR: "1", ...opts.env },
    clearEnv: opts.clear ?? false,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("deno compile embeds the kernels, worker, lockfile and baseline, and leaves llama.cpp's libraries out", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crossval-compile-" });
  try {
    const out = `${dir}/crossval`;
    const r = await run(Deno.execPath(), compileArgs(out), {
      cwd: REPO_ROOT,
      env: { DENORT_BIN: Deno.execPath() },
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const listing = stripVTControlCharacters(r.stdout + r.stderr);
    assert.match(listing, /Embedded Files/);
    // The listing is a tree: a file shows as its name under its directory, or as a path where a chain collapses.
    // Expected here, not taken from COMPILE_INCLUDES, so that dropping one from the build is caught.
    const wanted = [
      "kernels.wasm",
      "kernels_relaxed.wasm",
      "worker.ts",
      "crossval-models.lock.json",
      "latest-cpu.json",
      "deno.json",
    ];
    for (const name of wanted) {
      assert.match(listing, new RegExp(`[─ /]${name.replaceAll(".", "\\.")} \\(`), `${name} is not embedded`);
    }
    for (const path of COMPILE_INCLUDES) assert.ok(wanted.includes(path.slice(path.lastIndexOf("/") + 1)), path);
    assert.match(listing, /cli\/\* \(|main\.ts \(/, "the CLI is not embedded");
    // The llama.cpp package keeps its 2.7 KB of JS, not its 29 MB of libraries: all npm code is ~2.3 MB.
    const npm = /─ node_modules(?:\/\*)? \(([\d.]+)(KB|MB|B)/.exec(listing);
    assert.ok(npm, "no node_modules in the listing");
    const mb = Number(npm[1]) / (npm[2] === "MB" ? 1 : npm[2] === "KB" ? 1024 : 1 << 20);
    assert.ok(mb < 5, `llama.cpp's libraries are embedded: node_modules is ${npm[1]} ${npm[2]}`);
    const payload = (await Deno.stat(out)).size - (await Deno.stat(Deno.execPath())).size;
    assert.ok(payload > 1 << 20 && payload < 16 << 20, `payload ${(payload / 2 ** 20).toFixed(1)} MiB`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "the compiled binary runs without Deno: version, make-model, inspect, run, fetch, parity, bench, and validate " +
    "like the source",
  ignore: GATE !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "crossval-binary-" });
    try {
      const bin = `${dir}/crossval`;
      const built = await run(Deno.execPath(), ["run", "-A", `${REPO_ROOT}/cli/compile.ts`, "--output", bin], {
        cwd: REPO_ROOT,
      });
      assert.equal(built.code, 0, built.stdout + built.stderr);
      console.error(`binary: ${((await Deno.stat(bin)).size / 2 ** 20).toFixed(1)} MiB`);

      const proj = `${dir}/project`;
      await Deno.mkdir(`${proj}/bin`, { recursive: true });
      // No Deno anywhere: an empty environment, PATH holding one empty directory.
      // The reference builds (ik_llama.cpp for the CI tier's bitnet-b1.58 model, built once per machine by
      // tests/setup.ts) are found in this machine's cache: a binary finds them without the source archive.
      const env = {
        HOME: proj,
        PATH: `${proj}/bin`,
        BITNET_MODEL_CACHE_DIR: `${dir}/cache`,
        BITNET_CACHE_DIR: cacheRoot(),
      };
      const crossval = (args: string[]) => run(bin, args, { cwd: proj, env, clear: true });

      const v = await crossval(["--version", "--json"]);
      assert.equal(v.code, 0, v.stderr);
      const info = JSON.parse(v.stdout);
      assert.equal(info.standalone, true);
      assert.equal(info.kernels.sha256, (await kernelBuildHash()).sha256);

      for (
        const args of [
          ["make-model", "--preset", "tiny", "--layers", "1", "--out", "m.gguf"],
          ["inspect", "m.gguf"],
          ["run", "--model", "m.gguf", "--prompt", "hello", "-n", "4", "--threads", "1"],
          ["fetch", "--tier", "ci", "--offline"],
        ]
      ) {
        const r = await crossval(args);
        assert.equal(r.code, 0, `crossval ${args.join(" ")}: ${r.stdout}${r.stderr}`);
      }

      const missing = await crossval(["validate", "--steps", "4"]);
      assert.equal(missing.code, 2, missing.stdout + missing.stderr);
      assert.match(missing.stdout + missing.stderr, /npm i @node-llama-cpp\/linux-x64@3\.22\.1/);
      assert.match(missing.stdout + missing.stderr, /BITNET_CPP_DIR/);

      await Deno.mkdir(`${proj}/node_modules/@node-llama-cpp`, { recursive: true });
      await Deno.symlink(
        await Deno.realPath(`${REPO_ROOT}/node_modules/@node-llama-cpp/linux-x64`),
        `${proj}/node_modules/@node-llama-cpp/linux-x64`,
      );
      const ok = await crossval(["validate", "--steps", "4"]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /VALIDATE PASS/);
      for (
        const args of [
          ["parity", "--model", "ci-tiny", "--steps", "2", "--out", "ci/parity-cmd.json"],
          ["bench", "--model", "ci-tiny", "--reps", "2", "--warmup", "0", "--pp", "16", "--tg", "4", "--threads", "1"],
        ]
      ) {
        const r = await crossval(args);
        assert.equal(r.code, 0, `crossval ${args.join(" ")}: ${r.stdout}${r.stderr}`);
      }

      // The same validate from the source tree, in another directory: the same numbers.
      const src = `${dir}/source`;
      await Deno.mkdir(src);
      const ref = await run(Deno.execPath(), ["run", "-A", `${REPO_ROOT}/cli/main.ts`, "validate", "--steps", "4"], {
        cwd: src,
        env: { BITNET_MODEL_CACHE_DIR: `${dir}/cache` },
      });
      assert.equal(ref.code, 0, ref.stdout + ref.stderr);
      const metrics = async (d: string) => {
        const r = JSON.parse(await Deno.readTextFile(`${d}/ci/parity-ci-tiny.json`));
        const { inference_time_engine_ms: _e, inference_time_cpp_ms: _c, ...m } = r.metrics;
        return { status: r.status, model: r.model_sha256, kernels: r.engine.kernels, metrics: m };
      };
      assert.deepEqual(await metrics(proj), await metrics(src));

      const verified = await run(Deno.execPath(), [
        "run",
        "-A",
        `${REPO_ROOT}/cli/main.ts`,
        "receipt",
        "verify",
        `${proj}/ci/parity-ci-tiny.json`,
        `${proj}/ci/bench_ci-tiny.json`,
      ], { cwd: REPO_ROOT });
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
