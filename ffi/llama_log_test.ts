import assert from "node:assert/strict";
import { LlamaLog } from "./llama_log.ts";

// ggml_log_level values (ggml/include/ggml.h): DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5.

Deno.test("LlamaLog joins pieces into lines and continues with GGML_LOG_LEVEL_CONT", () => {
  const log = new LlamaLog();
  log.push(2, "load: ");
  log.push(5, "42 tensors");
  log.push(5, "\nsecond line\n");
  log.push(4, "boom\n");
  assert.deepEqual(log.since(0).map((l) => [l.level, l.text]), [
    ["info", "load: 42 tensors"],
    ["info", "second line"],
    ["error", "boom"],
  ]);
});

Deno.test("LlamaLog.since() returns only lines after a mark and keeps an unterminated piece", () => {
  const log = new LlamaLog();
  log.push(2, "before\n");
  const mark = log.seq;
  log.push(3, "after\n");
  log.push(2, "partial");
  assert.deepEqual(log.since(mark).map((l) => l.text), ["after", "partial"]);
  assert.equal(log.tail(mark), "warn: after\npartial");
});

Deno.test("LlamaLog drops the oldest lines beyond its capacity", () => {
  const log = new LlamaLog(3);
  for (let i = 0; i < 5; i++) log.push(2, `l${i}\n`);
  assert.deepEqual(log.since(0).map((l) => l.text), ["l2", "l3", "l4"]);
  assert.equal(log.seq, 5);
});

Deno.test("LlamaLog.subscribe() streams complete lines until unsubscribed", () => {
  const log = new LlamaLog();
  const seen: string[] = [];
  const off = log.subscribe((l) => seen.push(l.text));
  log.push(2, "a\nb");
  log.push(2, "c\n");
  off();
  log.push(2, "d\n");
  assert.deepEqual(seen, ["a", "b", "c"]);
});
