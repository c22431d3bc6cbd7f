import assert from "node:assert/strict";
import { cmakeDefines, cpuFingerprint, recipeFor, recipeId } from "./build_recipe.ts";

Deno.test("every recipe is static, CPU-only, libraries-only and native", () => {
  for (const lib of ["ik_llama.cpp", "bitnet.cpp", "llama.cpp"] as const) {
    const d = cmakeDefines(lib);
    for (
      const f of [
        "-DBUILD_SHARED_LIBS=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DGGML_NATIVE=ON",
      ]
    ) {
      assert.ok(d.includes(f), `${lib}: ${f}`);
    }
    assert.deepEqual(recipeFor(lib, "x").targets, ["llama"]);
  }
  assert.ok(cmakeDefines("ik_llama.cpp").includes("-DGGML_IQK_FA_ALL_QUANTS=OFF"));
});

Deno.test("recipeId() changes with the flags and the CPU, and only then", () => {
  const a = recipeFor("ik_llama.cpp", "x86_64|EPYC|0123");
  assert.match(recipeId(a), /^[0-9a-f]{12}$/);
  assert.equal(recipeId(a), recipeId(recipeFor("ik_llama.cpp", "x86_64|EPYC|0123")));
  assert.notEqual(recipeId(a), recipeId(recipeFor("ik_llama.cpp", "x86_64|EPYC|4567")));
  assert.notEqual(recipeId(a), recipeId(recipeFor("llama.cpp", "x86_64|EPYC|0123")));
});

Deno.test("cpuFingerprint() depends on the flag set, not its order", () => {
  const a = cpuFingerprint("model name\t: AMD EPYC\nflags\t\t: sse avx2 fma\n", "x86_64");
  const b = cpuFingerprint("model name\t: AMD EPYC\nflags\t\t: fma sse avx2\nflags\t\t: other\n", "x86_64");
  assert.equal(a, b);
  assert.ok(a.startsWith("x86_64|AMD EPYC|"));
  assert.notEqual(a, cpuFingerprint("model name\t: AMD EPYC\nflags\t\t: sse avx2\n", "x86_64"));
  assert.equal(cpuFingerprint("", "aarch64").split("|")[0], "aarch64");
});
