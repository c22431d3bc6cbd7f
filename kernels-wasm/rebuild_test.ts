/**
 * The committed modules are exactly what `deno run -A kernels-wasm/build.ts` produces (CI check). Needs
 * Debian's rustc 1.63 + wasm32 std and wabt; as root the build script installs them, otherwise it fails
 * with the apt-get command to run.
 */

import { equal } from "node:assert/strict";

Deno.test("kernels.wasm and kernels_relaxed.wasm are byte-identical to a fresh build", async () => {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./build.ts", import.meta.url).pathname, "--check"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  equal(r.code, 0, `build.ts --check failed (exit ${r.code}):\n${dec.decode(r.stdout)}${dec.decode(r.stderr)}`);
});
