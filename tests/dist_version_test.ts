/**
 * `crossval --version [--json]`: our version from deno.json, the runtime, the pinned llama.cpp, and the kernel build
 * hash computed from the committed `.wasm` bytes (checked against `sha256sum`, the shell recipe the docs give).
 * Also the program-level CLI behaviour that the `--version` wiring changed: no command and unknown commands are
 * usage errors (exit 2), subcommands keep their own `--json`.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import denoJson from "../deno.json" with { type: "json" };
import { PINNED_LLAMA } from "../ffi/mod.ts";
import { KERNEL_FILES, kernelBuildHash, type VersionInfo, versionWebGpu } from "../cli/version.ts";
import { describeWebGpu } from "../engine/backends/webgpu/mod.ts";
import { crossval } from "../cli/_testing.ts";

const ROOT = new URL("..", import.meta.url);

/** `sha256sum <files> | sha256sum` in `dir`, as docs/CROSSVAL.md tells users to reproduce the kernel hash. */
async function shellKernelHash(dir: string, files: readonly string[]): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `sha256sum ${files.join(" ")} | sha256sum`],
    cwd: dir,
    stdout: "piped",
  }).output();
  assert.ok(out.success, "sha256sum failed");
  return new TextDecoder().decode(out.stdout).split(/\s/)[0];
}

Deno.test("KERNEL_FILES lists exactly the committed kernels-wasm/*.wasm, in sha256sum's order", async () => {
  const found: string[] = [];
  for await (const e of Deno.readDir(new URL("kernels-wasm/", ROOT))) if (e.name.endsWith(".wasm")) found.push(e.name);
  assert.deepEqual([...KERNEL_FILES], found.sort());
});

Deno.test("crossval --version --json reports deno.json's version, this Deno, the pinned llama.cpp and the kernel hash", async () => {
  const r = await crossval(["--version", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const v: VersionInfo = JSON.parse(r.stdout);
  assert.equal(v.name, "@bitnet/crossval");
  assert.equal(v.version, denoJson.version);
  assert.equal(v.standalone, false);
  assert.deepEqual(v.runtime, { deno: Deno.version.deno, v8: Deno.version.v8, typescript: Deno.version.typescript });
  assert.deepEqual(v.llama_cpp, {
    release: PINNED_LLAMA.release,
    version: PINNED_LLAMA.version,
    commit: PINNED_LLAMA.commit,
    npm_package: PINNED_LLAMA.npmPackage,
    package_version: PINNED_LLAMA.packageVersion,
  });
  assert.match(v.commit, /^([0-9a-f]{40}|unknown)$/);
  const dir = new URL("kernels-wasm/", ROOT).pathname;
  for (const f of v.kernels.files) {
    const bytes = await Deno.readFile(`${dir}${f.name}`);
    assert.equal(f.sha256, createHash("sha256").update(bytes).digest("hex"), f.name);
    assert.equal(f.bytes, bytes.byteLength);
  }
  assert.equal(v.kernels.sha256, await shellKernelHash(dir, KERNEL_FILES));

  // The adapter this process finds (the same machine, the same wgpu), in the snake_case of every --json output.
  const here = versionWebGpu(await describeWebGpu());
  assert.deepEqual(v.webgpu, here);
  if (here.available) {
    assert.ok(v.webgpu.label.length > 0 && v.webgpu.limits, JSON.stringify(v.webgpu));
    assert.equal(typeof v.webgpu.limits.max_storage_buffer_binding_size, "number");
    assert.equal(typeof v.webgpu.is_fallback_adapter, "boolean");
  }

  const text = await crossval(["-V"]);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.trim().split("\n");
  assert.equal(lines.length, 5, text.stdout);
  assert.match(lines[0], new RegExp(`^crossval ${denoJson.version.replaceAll(".", "\\.")} \\(@bitnet/crossval, `));
  assert.equal(lines[1], `deno ${Deno.version.deno}, v8 ${Deno.version.v8}, typescript ${Deno.version.typescript}`);
  assert.match(lines[2], new RegExp(`^llama\\.cpp ${PINNED_LLAMA.release.replaceAll(".", "\\.")} \\(commit de3ff815`));
  assert.ok(lines[3].startsWith(`kernels sha256 ${v.kernels.sha256} (`), lines[3]);
  assert.ok(
    lines[4].startsWith(here.available ? `webgpu ${here.label} (vendor ` : `webgpu none: ${here.reason}`),
    lines[4],
  );
});

Deno.test("crossval --version without a WebGPU adapter says so and why, and still exits 0", async () => {
  // wgpu has no Metal backend on Linux: asking for it finds no adapter, as on a machine without any GPU stack.
  const env = { DENO_WEBGPU_BACKEND: Deno.build.os === "darwin" ? "dx12" : "metal" };
  const r = await crossval(["--version", "--json"], { env });
  assert.equal(r.code, 0, r.stderr);
  const v: VersionInfo = JSON.parse(r.stdout);
  assert.equal(v.webgpu.available, false);
  assert.equal(v.webgpu.label, "no WebGPU adapter");
  assert.match(v.webgpu.reason!, new RegExp(`found no adapter \\(DENO_WEBGPU_BACKEND=${env.DENO_WEBGPU_BACKEND}\\)`));
  assert.equal(v.webgpu.limits, undefined);
  const text = await crossval(["--version"], { env });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^webgpu none: navigator\.gpu\.requestAdapter\(\) found no adapter .*--backend wasm/m);
});

Deno.test("the kernel hash follows the bytes: one changed byte in one module changes it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crossval-kernels-" });
  try {
    for (const f of KERNEL_FILES) await Deno.copyFile(new URL(`kernels-wasm/${f}`, ROOT), `${dir}/${f}`);
    const url = new URL(`file://${dir}/`);
    const before = await kernelBuildHash(url);
    const bytes = await Deno.readFile(`${dir}/${KERNEL_FILES[1]}`);
    bytes[bytes.length - 1] ^= 1;
    await Deno.writeFile(`${dir}/${KERNEL_FILES[1]}`, bytes);
    const after = await kernelBuildHash(url);
    assert.notEqual(after.sha256, before.sha256);
    assert.equal(after.files[0].sha256, before.files[0].sha256);
    assert.equal(after.sha256, await shellKernelHash(dir, KERNEL_FILES));
    await Deno.remove(`${dir}/${KERNEL_FILES[0]}`);
    await assert.rejects(
      () => kernelBuildHash(url),
      /Cannot hash the kernel module .*kernels\.wasm: .*deno task build:wasm/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("no command and an unknown command are usage errors (exit 2); commands keep their own --json", async () => {
  const none = await crossval([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr + none.stdout, /Usage: crossval \[options\] \[command\]/);
  const unknown = await crossval(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  const help = await crossval(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /-V, --version/);
  // `--json` after a command belongs to the command, not to the program's --version.
  const model = `${await Deno.makeTempDir({ prefix: "crossval-v-" })}/m.gguf`;
  const made = await crossval(["make-model", "--preset", "tiny", "--layers", "1", "--out", model, "--json"]);
  assert.equal(made.code, 0, made.stderr);
  assert.match(JSON.parse(made.stdout).sha256, /^[0-9a-f]{64}$/);
  await Deno.remove(model.replace(/\/m\.gguf$/, ""), { recursive: true });
});
