/**
 * Where the llama.cpp reference comes from and when it is refused: the pinned npm release, a user build through
 * BITNET_CPP_DIR (proved against its own header), a build whose ABI differs (refused, naming both versions), and a
 * process without the FFI permission (fails with the fix, never skips).
 */
import assert from "node:assert/strict";
import { LibraryLoadError, LlamaLibrary, llamaSourceDir, PINNED_LLAMA } from "./mod.ts";

const REPO = new URL("..", import.meta.url).pathname;

/**
 * A fake BITNET_CPP_DIR: the pinned libraries (symlinked) under build/bin, the pinned headers, and `llama.h`
 * passed through `edit` so a test can change a struct.
 */
async function fakeCppDir(edit: (header: string) => string, opts: { headers?: boolean } = {}): Promise<string> {
  const real = (await LlamaLibrary.open()).info.dir;
  const src = await llamaSourceDir();
  const root = await Deno.makeTempDir({ prefix: "fake-llama-cpp-" });
  await Deno.mkdir(`${root}/build/bin`, { recursive: true });
  for (const e of Deno.readDirSync(real)) {
    if (e.name.endsWith(".so")) await Deno.symlink(`${real}/${e.name}`, `${root}/build/bin/${e.name}`);
  }
  // A CMake shared build names them without the release suffix.
  await Deno.symlink(`${real}/libllama.v0.5.0.so`, `${root}/build/bin/libllama.so`);
  await Deno.symlink(`${real}/libggml.v0.5.0.so`, `${root}/build/bin/libggml.so`);
  if (opts.headers !== false) {
    await Deno.mkdir(`${root}/include`);
    await Deno.writeTextFile(`${root}/include/llama.h`, edit(await Deno.readTextFile(`${src}/include/llama.h`)));
    await Deno.mkdir(`${root}/ggml`);
    await Deno.symlink(`${src}/ggml/include`, `${root}/ggml/include`);
  }
  return root;
}

Deno.test("LlamaLibrary.open() loads the pinned npm release and reports its version, commit and backend", async () => {
  const lib = await LlamaLibrary.open();
  const i = lib.info;
  assert.equal(i.source, "npm");
  assert.equal(i.release, PINNED_LLAMA.release);
  assert.equal(i.abiCheck, "pinned");
  // The version the library reports must be the one the pinned source's CMakeLists.txt declares.
  const cmake = await Deno.readTextFile(`${await llamaSourceDir()}/CMakeLists.txt`);
  const v = ["MAJOR", "MINOR", "PATCH"].map((k) => new RegExp(`set\\(LLAMA_VERSION_${k} (\\d+)\\)`).exec(cmake)![1]);
  assert.equal(v.join("."), PINNED_LLAMA.version);
  assert.ok(i.version.startsWith(PINNED_LLAMA.version), i.version);
  assert.ok(i.devices.some((d) => d.name === "CPU"), JSON.stringify(i.devices));
  assert.ok(i.cpuVariant && i.cpuVariant.length > 0, "the CPU backend variant comes from ggml's log");
  assert.match(i.ggmlCommit, /^[0-9a-f]{7,}$/);
  assert.strictEqual(await LlamaLibrary.open(), lib, "one library per process");
});

Deno.test("BITNET_CPP_DIR with the pinned ABI is accepted after probing its own llama.h", async () => {
  const root = await fakeCppDir((h) => h);
  try {
    const lib = await LlamaLibrary.open({ cppDir: root });
    assert.equal(lib.info.source, "BITNET_CPP_DIR");
    assert.equal(lib.info.abiCheck, "header-probe");
    assert.equal(lib.info.release, "custom");
    assert.ok(lib.info.devices.length >= 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("BITNET_CPP_DIR whose llama_context_params differs is refused, naming both versions", async () => {
  const root = await fakeCppDir((h) => {
    const edited = h.replace(
      /(struct llama_context_params \{\s*uint32_t n_ctx;[^\n]*\n)/,
      "$1        uint32_t n_future;\n",
    );
    assert.notEqual(edited, h, "the header edit must apply");
    return edited;
  });
  try {
    const err = await LlamaLibrary.open({ cppDir: root }).then(() => null, (e) => e);
    assert.ok(err instanceof LibraryLoadError, `expected LibraryLoadError, got ${err}`);
    const msg = (err as Error).message;
    assert.match(msg, new RegExp(`${PINNED_LLAMA.release.replace(".", "\\.")} \\(version ${PINNED_LLAMA.version}\\)`));
    assert.match(msg, /found version \S+/);
    assert.match(msg, /struct llama_context_params: size/);
    assert.match(msg, /struct llama_context_params\.n_batch: offset/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("BITNET_CPP_DIR whose header lacks a field the binding uses is refused with the compiler's words", async () => {
  const root = await fakeCppDir((h) => h.replace(/\n\s*uint32_t n_rs_seq;[^\n]*/, ""));
  try {
    const err = await LlamaLibrary.open({ cppDir: root }).then(() => null, (e) => e);
    assert.ok(err instanceof LibraryLoadError);
    assert.match((err as Error).message, /n_rs_seq/);
    assert.match((err as Error).message, /v0\.5\.0/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("BITNET_CPP_DIR without headers is refused: the ABI cannot be proved", async () => {
  const root = await fakeCppDir((h) => h, { headers: false });
  try {
    const err = await LlamaLibrary.open({ cppDir: root }).then(() => null, (e) => e);
    assert.ok(err instanceof LibraryLoadError);
    assert.match((err as Error).message, /no include\/llama\.h/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("BITNET_CPP_DIR without libraries names what is missing", async () => {
  const root = await Deno.makeTempDir();
  try {
    const err = await LlamaLibrary.open({ cppDir: root }).then(() => null, (e) => e);
    assert.ok(err instanceof LibraryLoadError);
    assert.match((err as Error).message, /missing libllama\.so, libggml\.so, libggml-base\.so/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a bridge test run without --allow-ffi fails (not skips) with a message saying to add it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/needs_ffi_test.ts`;
    await Deno.writeTextFile(
      file,
      `import { CppModel } from ${JSON.stringify(`${REPO}ffi/mod.ts`)};\n` +
        `Deno.test("loads", async () => { (await CppModel.load("x.gguf", { vocabOnly: true })).close(); });\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--no-check", "--allow-read", "--allow-env", "--config", `${REPO}deno.json`, file],
      cwd: REPO,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.success, false, text);
    assert.match(text, /FAILED/);
    assert.match(text, /LibraryLoadError: .*FFI permission is not granted.*Run with --allow-ffi/);
    assert.doesNotMatch(text, /ignored/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
