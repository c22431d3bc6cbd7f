import assert from "node:assert/strict";
import { compareAbi, probeAbi, probeSource } from "./abi_probe.ts";
import { llamaSourceDir } from "./llama_source.ts";
import {
  BINDING_LAYOUTS,
  defineStruct,
  denoStructType,
  LLAMA_CONTEXT_PARAMS,
  readField,
  writeField,
} from "./struct_layout.ts";

Deno.test("defineStruct() aligns each field to its size and pads the struct to its widest member", () => {
  // C11 6.7.2.1 with the x86-64 System V sizes: char at 0, int at 4, pointer at 8, trailing bool at 16, size 24.
  const s = defineStruct("struct t", [["c", "bool"], ["i", "i32"], ["p", "pointer"], ["b", "bool"]]);
  assert.deepEqual(s.fields.map((f) => f.offset), [0, 4, 8, 16]);
  assert.equal(s.size, 24);
  assert.equal(s.align, 8);
  const arr = defineStruct("struct a", [["t", "i32"], ["ne", "i64", 4], ["name", "i8", 3]]);
  assert.deepEqual(arr.fields.map((f) => [f.offset, f.size]), [[0, 4], [8, 32], [40, 3]]);
  assert.equal(arr.size, 48);
});

Deno.test("denoStructType() expands arrays so Deno's struct size equals the layout size", () => {
  for (const l of BINDING_LAYOUTS) {
    const members = denoStructType(l).struct;
    assert.equal(members.length, l.fields.reduce((n, f) => n + f.count, 0), l.cName);
  }
});

Deno.test("readField()/writeField() round-trip every scalar kind at its offset", () => {
  const b = new Uint8Array(LLAMA_CONTEXT_PARAMS.size);
  writeField(b, LLAMA_CONTEXT_PARAMS, "n_ctx", 4096);
  writeField(b, LLAMA_CONTEXT_PARAMS, "flash_attn_type", -1);
  writeField(b, LLAMA_CONTEXT_PARAMS, "rope_freq_base", 0.5);
  writeField(b, LLAMA_CONTEXT_PARAMS, "cb_eval", 0x1234_5678_9abcn);
  writeField(b, LLAMA_CONTEXT_PARAMS, "no_perf", true);
  assert.equal(readField(b, LLAMA_CONTEXT_PARAMS, "n_ctx"), 4096);
  assert.equal(readField(b, LLAMA_CONTEXT_PARAMS, "flash_attn_type"), -1);
  assert.equal(readField(b, LLAMA_CONTEXT_PARAMS, "rope_freq_base"), 0.5);
  assert.equal(readField(b, LLAMA_CONTEXT_PARAMS, "cb_eval"), 0x1234_5678_9abcn);
  assert.equal(readField(b, LLAMA_CONTEXT_PARAMS, "no_perf"), true);
  assert.throws(() => readField(b, LLAMA_CONTEXT_PARAMS, "nope"), RangeError);
});

Deno.test("struct layouts equal sizeof/offsetof compiled from the pinned release's llama.h and ggml.h", async () => {
  const src = await llamaSourceDir();
  const r = await probeAbi([`${src}/include`, `${src}/ggml/include`]);
  assert.ok(r.ok, `the probe must compile against the pinned header: ${!r.ok ? `${r.reason}: ${r.message}` : ""}`);
  assert.deepEqual(compareAbi(r.abi), []);
  // The probe really measured every field (not an empty object that compares equal).
  for (const l of BINDING_LAYOUTS) {
    assert.equal(r.abi.structs[l.cName].size, l.size, l.cName);
    assert.equal(Object.keys(r.abi.structs[l.cName].fields).length, l.fields.length, l.cName);
  }
});

Deno.test("compareAbi() names the struct and field whose offset or size moved", async () => {
  const src = await llamaSourceDir();
  const r = await probeAbi([`${src}/include`, `${src}/ggml/include`]);
  assert.ok(r.ok);
  const p = r.abi.structs["struct llama_context_params"];
  const moved = {
    ...r.abi,
    structs: {
      ...r.abi.structs,
      "struct llama_context_params": {
        size: p.size + 8,
        fields: { ...p.fields, n_batch: [p.fields.n_batch[0] + 4, 4] as const },
      },
    },
  };
  const diffs = compareAbi(moved);
  assert.ok(diffs.some((d) => d.startsWith("struct llama_context_params: size")), diffs.join("\n"));
  assert.ok(diffs.some((d) => d.startsWith("struct llama_context_params.n_batch: offset")), diffs.join("\n"));
});

Deno.test("probeSource() prints every field of every layout", () => {
  const c = probeSource();
  for (const l of BINDING_LAYOUTS) for (const f of l.fields) assert.ok(c.includes(`F(${l.cName}, ${f.name})`), f.name);
});
