import assert from "node:assert/strict";
import { availableBytes, isNoSpaceError } from "./disk_space.ts";

Deno.test("isNoSpaceError() recognises a real ENOSPC from the kernel (/dev/full) and nothing else", async () => {
  let thrown: unknown;
  try {
    await Deno.writeFile("/dev/full", new Uint8Array(4096));
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown, "writing to /dev/full must fail");
  assert.equal(isNoSpaceError(thrown), true);
  assert.equal(isNoSpaceError(new Deno.errors.NotFound("x")), false);
  assert.equal(isNoSpaceError("ENOSPC"), false);
});

Deno.test("availableBytes() agrees with df for the temp directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ours = await availableBytes(dir);
    const out = await new Deno.Command("df", { args: ["-B1", "--output=avail", dir] }).output();
    const df = Number(new TextDecoder().decode(out.stdout).trim().split("\n").pop());
    assert.ok(ours !== undefined && Number.isFinite(df));
    // Other processes write meanwhile: allow 1%.
    assert.ok(Math.abs(ours - df) <= df * 0.01 + 1e6, `statfs ${ours} vs df ${df}`);
  } finally {
    await Deno.remove(dir);
  }
});
