import assert from "node:assert/strict";
import { backoffDelay, DEFAULT_RETRY, isRetryableStatus, parseContentRange, parseRetryAfter } from "./retry.ts";

Deno.test("isRetryableStatus() retries 408, 429 and 5xx gateway errors, not client errors", () => {
  for (const s of [408, 429, 500, 502, 503, 504]) assert.equal(isRetryableStatus(s), true, String(s));
  for (const s of [200, 206, 301, 400, 401, 403, 404, 416, 501]) assert.equal(isRetryableStatus(s), false, String(s));
});

Deno.test("backoffDelay() doubles per attempt within [d/2, d], capped", () => {
  const policy = { baseDelayMs: 100, maxDelayMs: 1000 };
  const lo = () => 0, hi = () => 1 - Number.EPSILON;
  assert.deepStrictEqual([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, { ...policy, random: lo })), [
    50,
    100,
    200,
    400,
    500,
    500,
  ]);
  for (let a = 1; a <= 6; a++) {
    const d = Math.min(1000, 100 * 2 ** (a - 1));
    assert.ok(backoffDelay(a, { ...policy, random: hi }) <= d && backoffDelay(a, { ...policy, random: hi }) > d * 0.99);
  }
  // Jitter spreads clients: 200 draws are not all equal.
  const draws = new Set(Array.from({ length: 200 }, () => backoffDelay(3, DEFAULT_RETRY)));
  assert.ok(draws.size > 100);
});

Deno.test("parseRetryAfter() reads delay-seconds and HTTP-dates", () => {
  const now = Date.parse("2026-11-26T10:00:00Z");
  assert.equal(parseRetryAfter("0", now), 0);
  assert.equal(parseRetryAfter(" 120 ", now), 120_000);
  assert.equal(parseRetryAfter("Thu, 26 Nov 2026 10:00:05 GMT", now), 5000);
  assert.equal(parseRetryAfter("Thu, 26 Nov 2026 09:00:00 GMT", now), 0);
  for (const bad of [null, undefined, "", "soon", "1.5", "-3"]) assert.equal(parseRetryAfter(bad, now), undefined);
});

Deno.test("parseContentRange() accepts well-formed ranges only", () => {
  assert.deepStrictEqual(parseContentRange("bytes 0-0/1"), { first: 0, last: 0, total: 1 });
  assert.deepStrictEqual(parseContentRange("bytes 5-9/*"), { first: 5, last: 9, total: undefined });
  for (const bad of [null, "bytes */100", "bytes 9-5/100", "bytes 0-100/100", "items 0-1/2", "bytes 1-2"]) {
    assert.equal(parseContentRange(bad), undefined, String(bad));
  }
});
