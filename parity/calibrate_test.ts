import assert from "node:assert/strict";
import { calibrate } from "./calibrate.ts";

Deno.test("calibrate() runs the models, prompts and steps it is given, with the faults injected into the first", async () => {
  const prompts = [{ text: "Once upon a time", parseSpecial: false }];
  const records: Record<string, unknown>[] = [];
  const out = await calibrate({ models: [{ layers: 2 }], prompts, steps: 3, onRecord: (r) => records.push(r) });
  assert.deepEqual(out, records);
  assert.equal(out.length, 1);
  assert.deepEqual(out[0].model, { layers: 2 });
  assert.equal(out[0].status, "pass");
  assert.equal(out[0].faults, null);
  const faulted = await calibrate({ models: [{ layers: 4, seed: 5 }], prompts, steps: 1, faults: true });
  assert.ok(faulted.length > 1);
  assert.ok(faulted.every((r) => JSON.stringify(r.model) === '{"layers":4,"seed":5}' && r.faults !== null));
  assert.ok(faulted.some((r) => r.status === "fail"), "an injected fault is caught");
});
