// The ik_llama.cpp reference through its protocol driver (ffi/driver/), on generated bitnet-b1.58 models: identity,
// parity settings, the ops, error replies, and the measured facts behind the compute-support guard
// (docs/references.md). The driver speaks ffi/PROTOCOL.md and runs under the supervisor (ffi/ref_process.ts), as the
// parity path runs it.
import assert from "node:assert/strict";
import { transcodeToFloat } from "../engine/convert/transcode_float.ts";
import { GgufFile } from "../engine/gguf/mod.ts";
import { Tokenizer } from "../engine/tokenizer/mod.ts";
import { computeSupport, GGML_TYPE_IDS, PINNED_IK_LLAMA } from "../ffi/references/mod.ts";
import { ReferenceCrashedError } from "../ffi/ref_crash.ts";
import { fixtureModel, withTempDir } from "./_fixtures.ts";
import { errorCode, f32, i32, idsPayload, ikConnection, ikDriver, ok } from "./_reference.ts";

const ENC = new TextEncoder();
const B158 = { arch: "bitnet-b1.58", type: "i2_s" } as const;

async function f32Model(dir: string, spec: Record<string, unknown> = {}): Promise<string> {
  const src = await fixtureModel({ ...B158, ...spec });
  const out = `${dir}/f32.gguf`;
  await transcodeToFloat(src, out);
  return out;
}

function argmaxRows(logits: Float32Array, nVocab: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < logits.length / nVocab; r++) {
    let best = 0;
    for (let i = 1; i < nVocab; i++) if (logits[r * nVocab + i] > logits[r * nVocab + best]) best = i;
    out.push(best);
  }
  return out;
}

Deno.test("the ik_llama.cpp driver says hello with the pinned commit, its build flags and a compiled ABI", async () => {
  await using c = await ikConnection();
  const h = ok(await c.request("hello", { protocol: 1 })).header;
  assert.equal(h.library, "ik_llama.cpp");
  assert.equal(h.driver, "c");
  assert.equal(h.commit, PINNED_IK_LLAMA.commit);
  assert.equal(h.abi_check, "compiled");
  assert.match(h.build_flags, /-DGGML_IQK_FA_ALL_QUANTS=OFF/);
  assert.match(h.system_info, /AVX|NEON/);
  for (const op of ["load", "eval", "greedy", "capture", "dequantize", "quantize"]) {
    assert.ok(h.ops.split(",").includes(op));
  }
  assert.equal(await errorCode(c.request("hello", { protocol: 2 })), "unsupported_protocol");
  // The supervisor read the same identity.
  assert.deepEqual([c.identity.library, c.identity.commit, c.identity.abiCheck], [h.library, h.commit, h.abi_check]);
});

Deno.test("ik_llama.cpp loads the F32 transcode in parity mode: F32 K cache, F16 V cache (its only choice), no FA", async () => {
  await withTempDir("ikref-load-", async (dir) => {
    const path = await f32Model(dir);
    await using c = await ikConnection();
    const h = ok(await c.request("load", { path, parity: 1, threads: 2, n_ctx: 128 })).header;
    assert.equal(h.arch, "bitnet-b1.58");
    assert.equal(h.description.includes("F32"), true, h.description);
    assert.deepEqual([h.type_k, h.type_v, h.flash_attn, h.flash_attn_resolved], ["f32", "f16", "disabled", "disabled"]);
    assert.deepEqual([h.n_embd, h.n_layer, h.n_head, h.n_head_kv, h.n_ctx], ["256", "4", "4", "2", "128"]);
    assert.deepEqual(ok(await c.request("info", { model: h.model })).header, { ...h, seq: String(Number(h.seq) + 1) });
  });
});

Deno.test("ik_llama.cpp tokenizes and detokenizes the generated vocabulary exactly as our tokenizer", async () => {
  const path = await fixtureModel(B158);
  using file = GgufFile.open(path);
  const ours = Tokenizer.fromGguf(file);
  await using c = await ikConnection();
  const m = ok(await c.request("load", { path, vocab_only: 1 })).header.model;
  for (const text of ["Hello world", "the quick brown fox, 12345!", "  spaces\tand\nlines", "ünïcödé ✓"]) {
    const ids = i32(ok(await c.request("tokenize", { model: m, add_special: 1 }, ENC.encode(text))).payload);
    assert.deepEqual([...ids], [...ours.encode(text, { addSpecial: true })], text);
    const back = ok(await c.request("detokenize", { model: m, remove_special: 1 }, idsPayload(ids))).payload;
    assert.equal(new TextDecoder().decode(back), ours.decode(ids, { removeSpecial: true }), text);
  }
  assert.equal(await errorCode(c.request("eval", { model: m }, idsPayload([1]))), "state");
});

Deno.test("eval, append, greedy and capture agree with each other on the F32 transcode", async () => {
  await withTempDir("ikref-ops-", async (dir) => {
    const path = await f32Model(dir);
    await using c = await ikConnection();
    const m = ok(await c.request("load", { path, parity: 1, threads: 2, n_ctx: 128, capture: 1 })).header.model;
    const ids = i32(ok(await c.request("tokenize", { model: m }, ENC.encode("one two three four five six"))).payload);
    const all = ok(await c.request("eval", { model: m, logits: "all" }, idsPayload(ids)));
    const V = Number(all.header.n_vocab);
    const rows = f32(all.payload);
    assert.equal(rows.length, ids.length * V);
    // Appending the last token to the prefix gives the last row again, and so does logits=last.
    ok(await c.request("eval", { model: m, logits: "last" }, idsPayload(ids.subarray(0, -1))));
    const app = ok(await c.request("eval", { model: m, mode: "append" }, idsPayload(ids.subarray(-1))));
    assert.equal(app.header.pos0, String(ids.length - 1));
    const last = f32(app.payload), ref = rows.subarray((ids.length - 1) * V);
    for (let i = 0; i < V; i++) assert.ok(Math.abs(last[i] - ref[i]) <= 1e-4 * (1 + Math.abs(ref[i])), `logit ${i}`);
    // Greedy's steps are the argmax of teacher-forcing its own output.
    const g = i32(ok(await c.request("greedy", { model: m, n: 6, stop_at_eog: 0 }, idsPayload(ids))).payload);
    assert.equal(g.length, 6);
    const forced = f32(ok(await c.request("eval", { model: m, logits: "all" }, idsPayload([...ids, ...g]))).payload);
    assert.deepEqual(argmaxRows(forced, V).slice(ids.length - 1, ids.length + 5), [...g]);
    // 1.1: greedy with the logits each token was taken from; eval computing without sending.
    const gl = ok(await c.request("greedy", { model: m, n: 6, stop_at_eog: 0, logits: 1 }, idsPayload(ids)));
    assert.equal(gl.payload.length, 6 * 4 + 6 * V * 4);
    assert.deepEqual([...i32(gl.payload.subarray(0, 24))], [...g]);
    assert.deepEqual(argmaxRows(f32(gl.payload.subarray(24)), V), [...g]);
    assert.equal(gl.header.n_vocab, String(V));
    const none = ok(await c.request("eval", { model: m, logits: "none" }, idsPayload(ids)));
    assert.deepEqual([none.header.rows, none.payload.length, none.header.n_past], ["0", 0, String(ids.length)]);
    // Capture: llama.cpp's graph names for every layer, logits identical to eval.
    const cap = ok(
      await c.request(
        "capture",
        { model: m, filter: "^([A-Za-z_]+-[0-9]+|result_norm|result_output)$" },
        idsPayload(ids),
      ),
    );
    const names = Array.from({ length: Number(cap.header.tensors) }, (_, i) => cap.header[`tensor.${i}.name`]);
    for (
      const n of ["attn_norm-0", "Qcur-0", "attn_sub_norm-0", "ffn_up-0", "ffn_sub_norm-0", "l_out-3", "result_norm"]
    ) {
      assert.ok(names.includes(n), `${n} in ${names.join(" ")}`);
    }
    const sizes = names.map((_, i) => cap.header[`tensor.${i}.shape`].split(",").reduce((a, b) => a * Number(b), 1));
    assert.equal(cap.payload.length, 4 * (ids.length * V + sizes.reduce((a, b) => a + b, 0)));
    assert.deepEqual(cap.header[`tensor.${names.indexOf("l_out-3")}.shape`], `256,${ids.length}`);
    const capLogits = f32(cap.payload.subarray(0, ids.length * V * 4));
    for (let i = 0; i < V; i++) assert.ok(Math.abs(capLogits[i] - rows[i]) <= 1e-4 * (1 + Math.abs(rows[i])));
  });
});

Deno.test("the driver answers bad requests with error replies and stays usable", async () => {
  await withTempDir("ikref-errors-", async (dir) => {
    const path = await f32Model(dir);
    await using c = await ikConnection();
    assert.equal(await errorCode(c.request("frobnicate")), "unsupported_op");
    assert.equal(await errorCode(c.request("tokenize", { model: 9 }, ENC.encode("x"))), "bad_handle");
    assert.equal(await errorCode(c.request("load", { path: `${dir}/missing.gguf` })), "not_found");
    await Deno.writeFile(`${dir}/junk.gguf`, ENC.encode("GGUF but not really"));
    await assert.rejects(
      () => c.request("load", { path: `${dir}/junk.gguf` }),
      (e: Error & { code?: string }) => e.code === "invalid_model" && /crossval inspect/.test(e.message),
    );
    const m = ok(await c.request("load", { path, parity: 1, threads: 1, n_ctx: 32 })).header.model;
    assert.equal(await errorCode(c.request("eval", { model: m }, idsPayload([5, 1 << 20]))), "range");
    assert.equal(await errorCode(c.request("eval", { model: m }, new Uint8Array(7))), "bad_request");
    assert.equal(await errorCode(c.request("eval", { model: m }, idsPayload(new Array(40).fill(1)))), "range");
    await assert.rejects(() => c.request("eval", { model: m, logits: "some" }, idsPayload([1])), /logits/);
    assert.equal(await errorCode(c.request("capture", { model: m, filter: "x" }, idsPayload([1]))), "state");
    assert.equal(ok(await c.request("eval", { model: m }, idsPayload([1, 2, 3]))).header.n_past, "3");
    ok(await c.request("unload", { model: m }));
    assert.equal(await errorCode(c.request("info", { model: m })), "bad_handle");
    await c.close();
    assert.equal(c.crash, null);
  });
});

Deno.test("a frame with bad magic ends the driver with status 3 and says what it saw", async () => {
  const d = await ikDriver();
  const p = new Deno.Command(d.path, { stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  const w = p.stdin.getWriter();
  await w.write(ENC.encode("HELLO, driver\n"));
  await w.close();
  const out = await p.output();
  assert.equal(out.code, 3);
  assert.match(new TextDecoder().decode(out.stderr), /bad magic 48 45 4c 4c/);
});

// The facts the guard (ffi/references/compute_support.ts) encodes: if ik_llama.cpp changes, these fail first.
Deno.test("ik_llama.cpp dies of SIGFPE on a TQ2_0 file, and the guard refuses it", async () => {
  const path = await fixtureModel({ arch: "bitnet-b1.58", type: "tq2_0" });
  await using c = await ikConnection();
  await assert.rejects(
    () => c.request("load", { path, threads: 1 }),
    (e: Error) => e instanceof ReferenceCrashedError && e.report.signal === "SIGFPE",
  );
  using f = GgufFile.open(path);
  const v = computeSupport("ik_llama.cpp", { arch: f.architecture, tensors: f.tensors });
  assert.equal(v.ok, false);
  assert.match(v.problems[0].reason, /TQ2_0.*SIGFPE/);
});

Deno.test("ik_llama.cpp loads a raw I2_S file and computes garbage (the last prompt token, again and again)", async () => {
  const path = await fixtureModel(B158);
  await using c = await ikConnection();
  const m = ok(await c.request("load", { path, parity: 1, threads: 1, n_ctx: 64 })).header.model;
  const prompt = [1, 50, 60, 70, 80, 90, 100, 110];
  const g = i32(ok(await c.request("greedy", { model: m, n: 8, stop_at_eog: 0 }, idsPayload(prompt))).payload);
  assert.deepEqual([...g], new Array(8).fill(110));
  using f = GgufFile.open(path);
  const v = computeSupport("ik_llama.cpp", { arch: f.architecture, tensors: f.tensors });
  assert.equal(v.transcodable, true);
  assert.equal(v.transcodeTensors.length, f.tensors.filter((t) => t.type === GGML_TYPE_IDS.I2_S).length);
});

Deno.test("ik_llama.cpp's IQ2_BN aborts on rows shorter than 512 and runs on 512-wide ones", async () => {
  await withTempDir("ikref-iq2bn-", async (dir) => {
    await using c = await ikConnection();
    for (const embd of [256, 512]) {
      const src = await fixtureModel({ ...B158, embd });
      const out = `${dir}/iq2bn-${embd}.gguf`;
      ok(await c.request("quantize", { path: src, out, ftype: 137, threads: 2 }));
      // Our GGUF reader does not know ik_llama.cpp's type ids: the requantized file's tensors are the source's, with
      // every I2_S tensor now IQ2_BN (the driver's dequantize says which type it read).
      using f = GgufFile.open(src);
      const tensors = [];
      for (const t of f.tensors) {
        if (t.type !== GGML_TYPE_IDS.I2_S) tensors.push(t);
        else {
          const r = ok(await c.request("dequantize", { path: out, tensor: t.name }));
          assert.equal(r.header.type, "iq2_bn", t.name);
          tensors.push({ ...t, type: Number(r.header.type_id) });
        }
      }
      const v = computeSupport("ik_llama.cpp", { arch: f.architecture, tensors });
      assert.equal(v.ok, embd === 512, JSON.stringify(v.problems));
    }
    const m = ok(await c.request("load", { path: `${dir}/iq2bn-512.gguf`, parity: 1, threads: 1, n_ctx: 64 })).header;
    assert.match(m.description, /IQ2_BN/);
    assert.equal(ok(await c.request("greedy", { model: m.model, n: 4 }, idsPayload([1, 2, 3]))).header.n, "4");
    const small = ok(await c.request("load", { path: `${dir}/iq2bn-256.gguf`, threads: 1, n_ctx: 64 })).header.model;
    await assert.rejects(
      () => c.request("eval", { model: small }, idsPayload([1, 2, 3])),
      (e: Error) => e instanceof ReferenceCrashedError && /GGML_ASSERT\(k >= 8\*QK_IQ1BN\) failed/.test(e.message),
    );
  });
});

Deno.test("hello reports the cached driver's own folder as the library dir", async () => {
  const a = await ikDriver();
  await using conn = await ikConnection();
  assert.equal(conn.identity.dir, a.path.slice(0, a.path.lastIndexOf("/")));
});
