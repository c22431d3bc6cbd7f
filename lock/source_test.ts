import assert from "node:assert/strict";
import { needsNetwork, parseSource } from "./source.ts";

Deno.test("parseSource() accepts https, loopback http, absolute file and generate sources", () => {
  const hf = "https://huggingface.co/microsoft/bitnet-b1.58-2B-4T-gguf/resolve/main/ggml-model-i2_s.gguf";
  assert.deepStrictEqual(parseSource(hf), { kind: "https", url: hf });
  for (const host of ["127.0.0.1:8080", "localhost", "[::1]:9"]) {
    assert.equal(parseSource(`http://${host}/m.gguf`).kind, "http");
  }
  assert.deepStrictEqual(parseSource("file:///tmp/a%20b.gguf"), {
    kind: "file",
    url: "file:///tmp/a%20b.gguf",
    path: "/tmp/a b.gguf",
  });
  const gen = parseSource("generate:make-model?preset=tiny&arch=bitnet&type=tq2_0&embed-type=f16&seed=1");
  assert.equal(gen.kind, "generate");
  assert.deepStrictEqual(gen.kind === "generate" && gen.params, {
    preset: "tiny",
    arch: "bitnet",
    type: "tq2_0",
    "embed-type": "f16",
    seed: "1",
  });
});

Deno.test("parseSource() rejects plain http to a remote host, other schemes and bad generators", () => {
  const cases: [string, RegExp][] = [
    ["http://example.com/m.gguf", /only for loopback/],
    ["http://127.0.0.2.example.com/m.gguf", /only for loopback/],
    ["ftp://example.com/m.gguf", /scheme ftp:/],
    ["file://server/share/m.gguf", /on host "server"/],
    ["not a url", /is not a URL/],
    ["generate:other?x=1", /only generator is make-model/],
    ["generate:make-model?preset=tiny&colour=red", /unknown make-model option "colour"/],
    ["generate:make-model?seed=1&seed=2", /"seed" twice/],
  ];
  for (const [url, re] of cases) {
    assert.throws(() => parseSource(url), (e: Error) => e instanceof TypeError && re.test(e.message), url);
  }
});

Deno.test("needsNetwork() is true exactly for http(s)", () => {
  assert.equal(needsNetwork(parseSource("https://a.example/m")), true);
  assert.equal(needsNetwork(parseSource("http://localhost/m")), true);
  assert.equal(needsNetwork(parseSource("file:///m")), false);
  assert.equal(needsNetwork(parseSource("generate:make-model?seed=1")), false);
});
