import assert from "node:assert/strict";
import { ChecksumMismatchError, LockfileError, ModelNotProvisionedError } from "./errors.ts";

Deno.test("error messages say what failed, the state, then the fix", () => {
  const mismatch = new ChecksumMismatchError({
    model: "m",
    url: "https://x/m",
    expectedSha256: "a".repeat(64),
    actualSha256: "b".repeat(64),
    expectedSize: 10,
    actualSize: 10,
  });
  assert.match(mismatch.message, /^Model "m" from https:\/\/x\/m failed verification: checksum mismatch: .* Fix: /);
  const size = new ChecksumMismatchError({
    model: "m",
    url: "u",
    expectedSha256: "a".repeat(64),
    expectedSize: 10,
    actualSize: 11,
    fix: "re-pin it",
  });
  assert.match(size.message, /size mismatch: expected 10 bytes, the source has 11\. .*Fix: re-pin it$/);
  const missing = new ModelNotProvisionedError("m", "it is not in the cache", "crossval fetch --model m");
  assert.equal(
    missing.message,
    'Model "m" is not provisioned: it is not in the cache. Fix: run crossval fetch --model m',
  );
  const lock = new LockfileError("x.json", ["a", "b"]);
  assert.match(lock.message, /^Invalid lockfile x\.json: 2 problems:\n {2}- a\n {2}- b\nFix the lockfile/);
  for (const e of [mismatch, missing, lock]) assert.equal(e.name, e.constructor.name);
});
