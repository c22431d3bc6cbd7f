import assert from "node:assert/strict";
import { cacheRoot, modelCacheDir } from "./cache_dir.ts";

const envOf = (vars: Record<string, string>) => (name: string): string | undefined => vars[name];

Deno.test("modelCacheDir() follows BITNET_MODEL_CACHE_DIR > BITNET_CACHE_DIR > XDG_CACHE_HOME > HOME", () => {
  const all = {
    BITNET_MODEL_CACHE_DIR: "/a/models",
    BITNET_CACHE_DIR: "/b",
    XDG_CACHE_HOME: "/c",
    HOME: "/home/u",
  };
  assert.deepStrictEqual(modelCacheDir(envOf(all)), "/a/models");
  const { BITNET_MODEL_CACHE_DIR: _a, ...noModel } = all;
  assert.deepStrictEqual(modelCacheDir(envOf(noModel)), "/b/models");
  const { BITNET_CACHE_DIR: _b, ...noRoot } = noModel;
  assert.deepStrictEqual(modelCacheDir(envOf(noRoot)), "/c/bitnet/models");
  const { XDG_CACHE_HOME: _c, ...homeOnly } = noRoot;
  assert.deepStrictEqual(modelCacheDir(envOf(homeOnly)), "/home/u/.cache/bitnet/models");
});

Deno.test("cacheRoot() without HOME fails with the variable to set", () => {
  assert.throws(() => cacheRoot(envOf({})), (e: Error) => e.message.includes("BITNET_CACHE_DIR"));
});

Deno.test("cacheRoot() ignores empty variables", () => {
  assert.deepStrictEqual(
    cacheRoot(envOf({ BITNET_CACHE_DIR: "", XDG_CACHE_HOME: "", HOME: "/h" })),
    "/h/.cache/bitnet",
  );
});
