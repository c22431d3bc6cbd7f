import assert from "node:assert/strict";
import { nativeFailure, ReferenceCrashedError, shortSourcePath } from "./ref_crash.ts";

Deno.test("nativeFailure() finds ggml_abort's message and shortens its file:line", () => {
  const tail = [
    "llama.cpp warn: something before",
    "/home/runner/work/node-llama-cpp/llama/llama.cpp/ggml/src/ggml-cpu/ops.cpp:3949: GGML_ASSERT(eps >= 0.0f) failed",
    "",
  ];
  assert.deepEqual(nativeFailure(tail), {
    message: "GGML_ASSERT(eps >= 0.0f) failed",
    location: "ggml-cpu/ops.cpp:3949",
    allocation: false,
  });
  const model = nativeFailure(["/b/llama.cpp/src/llama-model.cpp:1260: GGML_ASSERT(hparams.n_layer_all > 0) failed"]);
  assert.equal(model.location, "llama-model.cpp:1260");
});

Deno.test("nativeFailure() reads an uncaught C++ exception and an allocation failure, and ignores URL-like lines", () => {
  const thrown = nativeFailure([
    "terminate called after throwing an instance of 'std::runtime_error'",
    "  what():  unknown pre-tokenizer type: 'x'",
  ]);
  assert.deepEqual(thrown, {
    message: "std::runtime_error: unknown pre-tokenizer type: 'x'",
    location: null,
    allocation: false,
  });
  const oom = nativeFailure(["#", "# Fatal process out of memory: Oilpan: CagedHeap reservation", "stack line"]);
  assert.equal(oom.allocation, true);
  assert.match(oom.message ?? "", /^Fatal process out of memory/);
  assert.deepEqual(nativeFailure(["see https://example.com:443: for help"]), {
    message: null,
    location: null,
    allocation: false,
  });
});

Deno.test("shortSourcePath() keeps the part after ggml/src/ or src/", () => {
  assert.equal(shortSourcePath("/x/llama.cpp/ggml/src/ggml-backend.cpp"), "ggml-backend.cpp");
  assert.equal(shortSourcePath("/x/llama.cpp/src/llama-vocab.cpp"), "llama-vocab.cpp");
  assert.equal(shortSourcePath("a/b/c/d.cpp"), "c/d.cpp");
});

Deno.test("ReferenceCrashedError says how the child ended, where, during what, and the fix", () => {
  const e = new ReferenceCrashedError({
    kind: "abort",
    op: "eval",
    seq: 4,
    exitCode: null,
    signal: "SIGABRT",
    message: "GGML_ASSERT(eps >= 0.0f) failed",
    location: "ggml-cpu/ops.cpp:3949",
    stderrTail: [],
    pid: 1,
    wallMs: 2,
    modelPath: "m.gguf",
    reference: null,
  });
  assert.equal(e.name, "ReferenceCrashedError");
  assert.match(
    e.message,
    /killed by SIGABRT during "eval" on "m.gguf": GGML_ASSERT\(eps >= 0.0f\) failed at ggml-cpu\/ops.cpp:3949/,
  );
  assert.match(e.message, /crossval inspect m.gguf/);
});
