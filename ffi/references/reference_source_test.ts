import assert from "node:assert/strict";
import { PINNED_IK_LLAMA } from "./pinned.ts";
import {
  archiveSearchDirs,
  archiveSource,
  checkoutSource,
  detectLibrary,
  locateIkArchive,
  ReferenceSourceError,
  sourceKey,
} from "./reference_source.ts";

async function git(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("git", {
    args: ["-C", dir, "-c", "user.email=t@t", "-c", "user.name=t", "-c", "protocol.file.allow=always", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

async function repo(dir: string, files: Record<string, string>): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await git(dir, "init", "-q");
  for (const [f, text] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${f}`.replace(/\/[^/]+$/, ""), { recursive: true });
    await Deno.writeTextFile(`${dir}/${f}`, text);
  }
  await git(dir, "add", "-A");
  await git(dir, "commit", "-qm", "init");
}

Deno.test("locateIkArchive() finds the pinned archive, whose SHA-256 is the pinned one", async () => {
  const path = locateIkArchive((n) => n === "HOME" ? "/nonexistent" : undefined);
  assert.ok(path.endsWith(`/${PINNED_IK_LLAMA.archive}`), path);
  const src = await archiveSource(path);
  assert.equal(src.sha256, PINNED_IK_LLAMA.sha256);
  assert.equal(src.commit, PINNED_IK_LLAMA.commit);
  assert.equal(src.library, "ik_llama.cpp");
  assert.equal(sourceKey(src), PINNED_IK_LLAMA.sha256);
});

Deno.test("locateIkArchive() names the archive, the folders searched and both fixes when it is missing", () => {
  assert.throws(
    () => locateIkArchive((n) => (n === PINNED_IK_LLAMA.env ? "/nonexistent/x.tar.xz" : undefined)),
    (e: Error) =>
      e instanceof ReferenceSourceError && /BITNET_IK_ARCHIVE=\/nonexistent\/x\.tar\.xz does not exist/.test(e.message),
  );
  assert.ok(archiveSearchDirs().every((d) => d.endsWith("third_party")));
  assert.throws(
    () => locateIkArchive(() => undefined, ["/nonexistent/a", "/nonexistent/b"]),
    (e: Error) =>
      e instanceof ReferenceSourceError &&
      e.message.includes(`${PINNED_IK_LLAMA.archive} (looked in: /nonexistent/a, /nonexistent/b)`) &&
      e.message.includes(`set BITNET_IK_ARCHIVE=/path/to/${PINNED_IK_LLAMA.archive}`) &&
      e.message.includes(PINNED_IK_LLAMA.sha256) && e.message.includes("BITNET_CPP_DIR=/path/to/ik_llama.cpp"),
  );
});

Deno.test("checkoutSource() keys a checkout by commit, and by a hash of its changes when dirty", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/ik`;
    await repo(dir, { "CMakeLists.txt": "project(x)\n", "ggml/src/iqk/a.cpp": "int a;\n" });
    const clean = await checkoutSource(dir);
    assert.equal(clean.library, "ik_llama.cpp");
    assert.equal(clean.dirty, null);
    assert.match(sourceKey(clean), /^git-[0-9a-f]{40}$/);
    await Deno.writeTextFile(`${dir}/ggml/src/iqk/a.cpp`, "int a = 1;\n");
    const edited = await checkoutSource(dir);
    assert.match(edited.dirty ?? "", /^[0-9a-f]{16}$/);
    assert.equal(edited.commit, clean.commit);
    await Deno.writeTextFile(`${dir}/new.c`, "int b;\n");
    const untracked = await checkoutSource(dir);
    assert.notEqual(untracked.dirty, edited.dirty, "an untracked file changes the key");
    assert.equal((await checkoutSource(dir)).dirty, untracked.dirty, "the same state gives the same key");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkoutSource() sees a bitnet.cpp checkout's submodule commit and changes", async () => {
  const root = await Deno.makeTempDir();
  try {
    await repo(`${root}/llama`, { "CMakeLists.txt": "project(l)\n", "src/llama.cpp": "// v1\n" });
    const dir = `${root}/bitnet`;
    await repo(dir, { "CMakeLists.txt": "project(b)\n", "src/ggml-bitnet-mad.cpp": "// mad\n" });
    await git(dir, "submodule", "add", "-q", `${root}/llama`, "3rdparty/llama.cpp");
    await git(dir, "commit", "-qm", "sub");
    assert.equal(detectLibrary(dir), "bitnet.cpp");
    const clean = await checkoutSource(dir);
    assert.equal(clean.dirty, null);
    await Deno.writeTextFile(`${dir}/3rdparty/llama.cpp/src/llama.cpp`, "// v2\n");
    const dirty = await checkoutSource(dir);
    assert.ok(dirty.dirty, "a change inside the submodule makes the checkout dirty");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkoutSource() refuses a folder that is not a CMake source tree", async () => {
  const root = await Deno.makeTempDir();
  try {
    await assert.rejects(() => checkoutSource(root), /no CMakeLists\.txt.*BITNET_CPP_DIR must be the root/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
