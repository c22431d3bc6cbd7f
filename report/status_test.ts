import assert from "node:assert/strict";
import { badge, statusView, verdictView } from "./status.ts";

Deno.test("statusView(): only the exact status pass of a verified receipt is green", () => {
  assert.deepEqual(statusView("pass", true), { tone: "pass", label: "PASS" });
  for (const s of ["fail", "not_run", "reference_crashed", "PASS", "passed", "", null, undefined, 1, true]) {
    assert.notEqual(statusView(s, true).tone, "pass", `status ${JSON.stringify(s)}`);
  }
  assert.notEqual(statusView("pass", false).tone, "pass", "an unverified pass is not green");
  assert.deepEqual(statusView("fail", true), { tone: "fail", label: "FAIL" });
  assert.deepEqual(statusView("reference_crashed", true), { tone: "warn", label: "REFERENCE CRASHED" });
  assert.deepEqual(statusView(undefined, true), { tone: "warn", label: "NO STATUS" });
});

Deno.test("verdictView(): a regression is red, inconclusive and unknown verdicts amber", () => {
  assert.equal(verdictView("regression").tone, "fail");
  assert.equal(verdictView("no_change").tone, "pass");
  assert.equal(verdictView("improvement").tone, "pass");
  for (const v of ["inconclusive", "not_comparable", "missing", "new_kind"]) assert.equal(verdictView(v).tone, "warn");
});

Deno.test("badge() escapes its label and hover text", () => {
  const b = badge({ tone: "warn", label: "<B>" }, { title: `"x"` }).text;
  assert.ok(b.includes("&lt;B&gt;") && b.includes("&quot;x&quot;"), b);
});
