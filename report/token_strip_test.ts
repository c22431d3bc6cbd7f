import assert from "node:assert/strict";
import { parseDocument } from "./_testing.ts";
import { tokenStrip } from "./token_strip.ts";

const pieces = new Map([[5, " the"], [7, "<script>"], [8, "\n"]]);

Deno.test("tokenStrip(): one column per step, the first divergence marked, pieces as text, ids on hover", () => {
  const markup = tokenStrip({
    engine_ids: [5, 7, 5],
    reference_ids: [5, 8, 9],
    divergences: [{ step: 1, tie: true }, { step: 2, tie: false }],
    steps_requested: 4,
    piece: (id) => pieces.get(id) ?? null,
    referenceName: "llama.cpp",
  }).text;
  const document = parseDocument(markup);
  assert.equal(document.querySelectorAll("script").length, 0, "a <script> piece stays text");
  const strip = document.querySelector(".strip")!;
  assert.equal(strip.getAttribute("data-first-divergence"), "1");
  const steps = [...document.querySelectorAll(".step:not(.legend)")];
  assert.equal(steps.length, 3);
  assert.equal(steps[1]!.getAttribute("class"), "step tie first");
  assert.equal(steps[2]!.getAttribute("class"), "step fail");
  assert.equal(steps[1]!.querySelector(".tok.e")!.textContent, "<script>");
  assert.equal(steps[1]!.querySelector(".tok.r")!.textContent, "↵");
  assert.equal(steps[2]!.querySelector(".tok.r")!.textContent, "#9", "unknown piece: the id");
  assert.match(steps[1]!.querySelector(".tok.e")!.getAttribute("title")!, /^id 7 · "<script>"$/);
  assert.match(document.querySelector(".first-note")!.textContent!, /step 1 \(excused near-tie/);
  assert.match(document.querySelector(".note")!.textContent!, /3 of 4 steps/);
});

Deno.test("tokenStrip(): identical sequences have no divergence mark", () => {
  const markup = tokenStrip({
    engine_ids: [1, 2],
    reference_ids: [1, 2],
    divergences: [],
    steps_requested: 2,
    piece: () => null,
    referenceName: "llama.cpp",
  }).text;
  const document = parseDocument(markup);
  assert.equal(document.querySelector(".strip")!.getAttribute("data-first-divergence"), "");
  assert.equal(document.querySelectorAll(".step.first, .step.fail, .step.tie, .first-note").length, 0);
});
