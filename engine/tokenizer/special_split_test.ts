import assert from "node:assert/strict";
import { partitionSpecial, type SpecialToken } from "./special_split.ts";
import { TokenAttr } from "./token_attr.ts";

const CONTROL = TokenAttr.CONTROL;
const USER = TokenAttr.USER_DEFINED;
const sp = (id: number, bin: string, attr: number): SpecialToken => ({ id, bin, attr });
type F = { token: number } | { start: number; end: number };
const render = (text: string, frags: F[]) =>
  frags.map((f) => ("token" in f ? `<${f.token}>` : text.slice(f.start, f.end)));

Deno.test("partitionSpecial() splits on every occurrence, longest token first", () => {
  const text = "a<|x|>b<|x|><|xy|>c";
  const specials = [sp(2, "<|xy|>", CONTROL), sp(1, "<|x|>", CONTROL)];
  assert.deepEqual(render(text, partitionSpecial(text, specials, true)), ["a", "<1>", "b", "<1>", "<2>", "c"]);
});

Deno.test("partitionSpecial() skips control tokens without parseSpecial but still splits user-defined ones", () => {
  const text = "a<c>b<u>c";
  const specials = [sp(1, "<c>", CONTROL), sp(2, "<u>", USER)];
  assert.deepEqual(render(text, partitionSpecial(text, specials, false)), ["a<c>b", "<2>", "c"]);
  assert.deepEqual(render(text, partitionSpecial(text, specials, true)), ["a", "<1>", "b", "<2>", "c"]);
});

Deno.test("partitionSpecial() LSTRIP/RSTRIP eat ASCII whitespace next to the token only", () => {
  const text = "a \t<t>\n b";
  assert.deepEqual(render(text, partitionSpecial(text, [sp(1, "<t>", CONTROL | TokenAttr.LSTRIP)], true)), [
    "a",
    "<1>",
    "\n b",
  ]);
  assert.deepEqual(render(text, partitionSpecial(text, [sp(1, "<t>", CONTROL | TokenAttr.RSTRIP)], true)), [
    "a \t",
    "<1>",
    "b",
  ]);
  // Only whitespace around: the fragments vanish.
  assert.deepEqual(render(" <t> ", partitionSpecial(" <t> ", [sp(1, "<t>", USER | 0x180)], false)), ["<1>"]);
});

Deno.test("partitionSpecial() of empty text has no fragments", () => {
  assert.deepEqual(partitionSpecial("", [sp(1, "x", CONTROL)], true), []);
});
