import assert from "node:assert/strict";
import { domainOf, linear, ticks } from "./scale.ts";

Deno.test("domainOf() holds every value and every gate line, ignoring null and NaN", () => {
  const [lo, hi] = domainOf([0.995, null, NaN, 0.999], { include: [0.99] });
  assert.ok(lo < 0.99 && hi > 0.999, `${lo} ${hi}`);
});

Deno.test("domainOf() gives identical values a span and respects floor and ceil", () => {
  const [lo, hi] = domainOf([0, 0, 0], { floor: 0 });
  assert.equal(lo, 0);
  assert.ok(hi > 0);
  assert.deepEqual(domainOf([1, 1], { ceil: 1, include: [0.99] })[1], 1);
});

Deno.test("ticks() are round numbers inside the domain; linear() maps and clamps", () => {
  assert.deepEqual(ticks([0, 1], 4), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  const t = ticks([0.9892, 1], 3);
  assert.ok(t.every((v) => v >= 0.9892 && v <= 1) && t.length >= 2, String(t));
  const y = linear([0, 10], [100, 0]);
  assert.deepEqual([y(0), y(5), y(10), y(20), y(-5)], [100, 50, 0, 0, 100]);
});
