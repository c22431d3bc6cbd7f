import assert from "node:assert/strict";
import { etaSeconds, parseBuildLine } from "./build_progress.ts";

Deno.test("parseBuildLine() reads Ninja and Make progress and ignores other lines", () => {
  assert.deepEqual(parseBuildLine("[12/115] Building CXX object ggml/src/CMakeFiles/ggml.dir/iqk/iqk_mul_mat.cpp.o"), {
    done: 12,
    total: 115,
    current: "ggml/src/iqk/iqk_mul_mat.cpp.o",
  });
  assert.deepEqual(parseBuildLine("[ 45%] Building C object ggml/src/CMakeFiles/ggml.dir/ggml.c.o"), {
    done: 45,
    total: 100,
    current: "ggml/src/ggml.c.o",
  });
  assert.deepEqual(parseBuildLine("[115/115] Linking CXX static library src/libllama.a")?.current, "src/libllama.a");
  assert.equal(parseBuildLine("/src/ggml.c:12:3: warning: unused variable"), null);
  assert.equal(parseBuildLine("[a/b] nothing"), null);
});

Deno.test("etaSeconds() extrapolates the rate, and is null before two steps", () => {
  assert.equal(etaSeconds({ done: 1, total: 10, current: "" }, 5), null);
  assert.equal(etaSeconds({ done: 10, total: 40, current: "" }, 20), 60);
  assert.equal(etaSeconds({ done: 40, total: 40, current: "" }, 20), 0);
});
