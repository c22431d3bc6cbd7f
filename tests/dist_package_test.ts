/**
 * The package is JSR-ready: `deno publish --dry-run` passes (type check, no slow types, publishable file set: no
 * tests, the kernels and the default lockfile included), `deno doc --lint` on the package's two exports (`mod.ts`,
 * `cli/main.ts`) finds every export documented and every type it references exported, and the root module exposes
 * each folder's headline API. Both commands run offline (checked on the project's machines, where jsr.io is
 * unreachable).
 */
import assert from "node:assert/strict";
import * as root from "../mod.ts";

const ROOT = new URL("..", import.meta.url).pathname;

async function deno(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test("deno publish --dry-run passes: type check, no slow types, the right files", async () => {
  // --allow-dirty: the suite also runs on uncommitted working trees; the lead publishes from a clean commit.
  const r = await deno(["publish", "--dry-run", "--allow-dirty"]);
  assert.equal(r.code, 0, r.text);
  assert.match(r.text, /Checking for slow types in the public API/);
  assert.match(r.text, /Success Dry run complete/);
  const files = [...r.text.matchAll(/file:\/\/(\S+) \(/g)].map((m) => m[1].slice(ROOT.length));
  for (
    const f of [
      "mod.ts",
      "cli/main.ts",
      "cli/version.ts",
      "kernels-wasm/kernels.wasm",
      "kernels-wasm/kernels_relaxed.wasm",
      "kernels-wasm/worker.ts",
      "crossval-models.lock.json",
      "docs/CROSSVAL.md",
      "docs/baselines/latest-cpu.json",
      "receipts/verify_bench.ts",
      "bench/run_bench.ts",
    ]
  ) assert.ok(files.includes(f), `${f} is not published`);
  const unwanted = files.filter((f) =>
    /^(tests|ci|dist|\.ci|\.github|node_modules)\//.test(f) || /_test\.ts$/.test(f) ||
    /(^|\/)(engine|tokenizer|kernels|quant|sha256|fetch)_bench\.ts$/.test(f)
  );
  assert.deepEqual(unwanted, []);
});

Deno.test("deno doc --lint on both exports: every export documented, every referenced type exported", async () => {
  const r = await deno(["doc", "--lint", "mod.ts", "cli/main.ts"]);
  assert.equal(r.code, 0, r.text);
});

Deno.test("the root module names each folder's headline API, and runs the CLI when it is the program", async () => {
  for (
    const name of [
      // engine/
      "Engine",
      "GgufFile",
      "Tokenizer",
      "writeSyntheticModel",
      "GgmlType",
      "configFromGguf",
      "describeWebGpu",
      "WebGpuError",
      // ffi/
      "CppModel",
      "LibraryLoadError",
      "locateLlamaLibrary",
      "findLlamaNpmPackage",
      "PINNED_LLAMA",
      // lock/
      "Lockfile",
      "defaultLockfilePath",
      "fetchModels",
      "resolveModel",
      // parity/
      "runParity",
      "runParityOnModel",
      "DEFAULT_THRESHOLDS",
      // bench/
      "runBench",
      "benchModelFile",
      // receipts/
      "verifyReceipt",
      "compareToBaseline",
      "generateBaseline",
      "machineInfo",
    ]
  ) assert.ok(name in root, `mod.ts does not export ${name}`);
  const r = await deno(["run", "-A", "mod.ts", "--version"]);
  assert.equal(r.code, 0, r.text);
  assert.match(r.text, /^crossval \d+\.\d+\.\d+ \(@bitnet\/crossval/);
});
