import assert from "node:assert/strict";
import { DownloadError } from "./errors.ts";
import { recordableUrl, redirectTarget } from "./redirect.ts";

const HF = new URL("https://huggingface.co/microsoft/bitnet-b1.58-2B-4T-gguf/resolve/main/ggml-model-i2_s.gguf");
const LOCAL = new URL("http://127.0.0.1:8080/m.gguf");
const ctx = { model: "m", hop: 1 };

Deno.test("redirectTarget() follows https anywhere, relative locations, and http only between loopback hosts", () => {
  const followed: [URL, string, string][] = [
    [
      HF,
      "https://cas-bridge.xethub.hf.co/xet-bridge-us/abc?X-Amz-Signature=s",
      "https://cas-bridge.xethub.hf.co/xet-bridge-us/abc?X-Amz-Signature=s",
    ],
    [HF, "/api/resolve-cache/x.gguf", "https://huggingface.co/api/resolve-cache/x.gguf"],
    [LOCAL, "https://example.com/m.gguf", "https://example.com/m.gguf"], // an upgrade is fine
    [LOCAL, "http://localhost:9/m.gguf", "http://localhost:9/m.gguf"],
    [LOCAL, "//[::1]:7/m.gguf", "http://[::1]:7/m.gguf"],
  ];
  for (const [from, location, to] of followed) assert.equal(redirectTarget(from, location, ctx).href, to, location);
});

Deno.test("redirectTarget() refuses other schemes, downgrades, remote plain http and missing locations", () => {
  const refused: [URL, string | null, RegExp][] = [
    [HF, "http://huggingface.co/m.gguf", /downgrade from https to plain http/],
    [HF, "http://127.0.0.1:8080/admin", /downgrade from https to plain http/],
    [LOCAL, "http://10.0.0.7/m.gguf", /only between loopback hosts/],
    [LOCAL, "file:///etc/passwd", /follows only https \(not file:\)/],
    [HF, "data:application/octet-stream;base64,AAAA", /not data:/],
    [HF, "ftp://mirror.example/m.gguf", /not ftp:/],
    [HF, "javascript:alert(1)", /not javascript:/],
    [HF, null, /without a Location header/],
    [HF, "   ", /without a Location header/],
    [HF, "http://[bad", /not a URL/],
  ];
  for (const [from, location, re] of refused) {
    assert.throws(
      () => redirectTarget(from, location, ctx),
      (e: Error) => e instanceof DownloadError && re.test(e.message) && /Fix: /.test(e.message),
      String(location),
    );
  }
});

Deno.test("recordableUrl() drops the query string and credentials", () => {
  assert.equal(
    recordableUrl(new URL("https://u:p@cdn.example/a.gguf?X-Amz-Signature=abc#f")),
    "https://cdn.example/a.gguf",
  );
});
