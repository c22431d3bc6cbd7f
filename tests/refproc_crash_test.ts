/**
 * A crashing reference must not take the tool down (issue 16). Each file that aborted llama.cpp inside the tool's own
 * process is refused by pre-flight, naming the key and its value, before anything native runs; with pre-flight
 * bypassed, llama.cpp really aborts, in its supervised child process, and the run ends with a `reference_crashed`
 * receipt that carries the native message, its file:line and the model's hash, and with exit code 3. The supervisor's
 * other endings (deadline, memory limit, a program that breaks the protocol, a missing driver, a kill from outside)
 * each become the same typed error. Needs the llama.cpp library.
 */
import assert from "node:assert/strict";
import { preflightGguf } from "../engine/gguf/mod.ts";
import { GgufFile } from "../engine/gguf/mod.ts";
import { ReferenceCrashedError, ReferenceProcess } from "../ffi/mod.ts";
import { runParityOnModel } from "../parity/mod.ts";
import { verifyReceipt } from "../receipts/verify.ts";
import { sha256File } from "../lock/mod.ts";
import { crossval } from "../cli/_testing.ts";
import { KNOWN_CRASHES, writeHostileModel } from "./_hostile_models.ts";
import { withTempDir } from "./_fixtures.ts";

const PROMPTS = [{ text: "Once upon a time", parseSpecial: false }];

function gone(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return false;
  } catch {
    return true;
  }
}

Deno.test("pre-flight refuses each crash of issue 16 by key and value, in inspect and in parity, before any native call", async () => {
  await withTempDir("refproc-preflight-", async (dir) => {
    for (const c of KNOWN_CRASHES) {
      const path = await writeHostileModel(dir, c.name, c.edit);
      using f = GgufFile.open(path);
      const p = preflightGguf(f.header).find((x) => x.key === c.key);
      assert.ok(p, `${c.name}: no problem on ${c.key}`);
      assert.equal(p.value, c.value, c.name);
      await assert.rejects(
        () => runParityOnModel(path, { prompts: PROMPTS, steps: 2 }),
        (e: Error) => e.name === "InvalidModelError" && e.message.includes(p.message),
        c.name,
      );
    }
    // The CLI: inspect calls the file invalid (exit 1) with the same sentence parity refuses it with (exit 2).
    const c = KNOWN_CRASHES[0];
    const path = `${dir}/${c.name}.gguf`;
    const inspect = await crossval(["inspect", path, "--json", "--no-hash"]);
    assert.equal(inspect.code, 1, inspect.stderr);
    const report = JSON.parse(inspect.stdout);
    assert.equal(report.validation.valid, false);
    const problem = report.validation.preflight.find((x: { key: string }) => x.key === c.key);
    assert.ok(problem);
    const parity = await crossval(["parity", "--model", path, "--out", `${dir}/p.json`]);
    assert.equal(parity.code, 2, parity.stderr);
    assert.ok(parity.stderr.includes(problem.message), parity.stderr);
    for (
      const args of [["run", "--model", path, "-n", "1", "--prompt", "x"], [
        "ref-run",
        "--model",
        path,
        "-n",
        "1",
        "--prompt",
        "x",
      ]]
    ) {
      const r = await crossval(args);
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      assert.ok(r.stderr.includes(problem.message), `${args[0]}: ${r.stderr}`);
    }
    await assert.rejects(Deno.stat(`${dir}/p.json`), Deno.errors.NotFound);
  });
});

Deno.test("with pre-flight bypassed, each crash of issue 16 becomes a reference_crashed receipt with the native message and location", async () => {
  await withTempDir("refproc-crash-", async (dir) => {
    for (const c of KNOWN_CRASHES) {
      const path = await writeHostileModel(dir, c.name, c.edit);
      const r = await runParityOnModel(path, { prompts: PROMPTS, steps: 2, skipPreflight: true });
      assert.equal(r.status, "reference_crashed", `${c.name}: ${JSON.stringify(r.reasons)}`);
      const crash = r.reference.error?.crash;
      assert.ok(crash, c.name);
      assert.equal(crash.kind, "abort", c.name);
      assert.equal(crash.signal, "SIGABRT", c.name);
      assert.equal(crash.op, c.op, c.name);
      assert.equal(crash.message, c.message, c.name);
      assert.equal(crash.location, c.location, c.name);
      assert.ok(crash.stderr_tail.some((l) => l.includes(c.message)), c.name);
      assert.equal(r.model_sha256, await sha256File(path), c.name);
      assert.equal(r.reasons[0].code, "reference_crashed", c.name);
      assert.equal(r.reference.ran, false);
      // Valid against the schema, and never evidence of parity.
      const problems = verifyReceipt(JSON.parse(JSON.stringify(r)));
      assert.deepEqual(problems.filter((p) => p.code === "schema" || p.code === "status_mismatch"), [], c.name);
      assert.ok(problems.some((p) => p.code === "reference_not_run"), c.name);
    }
  });
});

Deno.test("crossval parity and ref-run exit 3 when the reference aborts, and parity still writes its receipt", async () => {
  await withTempDir("refproc-cli-", async (dir) => {
    const env = { CROSSVAL_TEST_SKIP_PREFLIGHT: "1" };
    const c = KNOWN_CRASHES[0];
    const path = await writeHostileModel(dir, c.name, c.edit);
    const out = `${dir}/parity.json`;
    const parity = await crossval(["parity", "--model", path, "--out", out, "--steps", "2"], { env });
    assert.equal(parity.code, 3, parity.stderr);
    assert.match(parity.stdout, /PARITY REFERENCE CRASHED/);
    assert.ok(parity.stdout.includes(c.location), parity.stdout);
    const receipt = JSON.parse(await Deno.readTextFile(out));
    assert.equal(receipt.status, "reference_crashed");
    assert.equal(receipt.reference.error.crash.location, c.location);
    const refRun = await crossval(["ref-run", "--model", path, "-n", "2", "--prompt", "Hello"], { env });
    assert.equal(refRun.code, 3, refRun.stderr);
    assert.match(
      refRun.stderr,
      /killed by SIGABRT during "eval".*GGML_ASSERT\(eps >= 0\.0f\) failed at ggml-cpu\/ops\.cpp:3949/,
    );
    const verify = await crossval(["receipt", "verify", out]);
    assert.equal(verify.code, 1, verify.stdout);
    assert.doesNotMatch(verify.stdout + verify.stderr, /\[schema\]/);
  });
});

Deno.test("ReferenceProcess turns a deadline, the memory limit, a broken driver, a missing driver and a kill into ReferenceCrashedError", async () => {
  await withTempDir("refproc-kinds-", async (dir) => {
    const ok = await writeHostileModel(dir, "ok", (m) => m);
    const expectCrash = async (
      what: string,
      opts: Parameters<typeof ReferenceProcess.spawn>[0],
      work: (p: ReferenceProcess) => Promise<unknown>,
      check: (e: ReferenceCrashedError) => void,
    ) => {
      let proc: ReferenceProcess | undefined;
      try {
        proc = await ReferenceProcess.spawn(opts);
        await work(proc);
        assert.fail(`${what}: no crash`);
      } catch (e) {
        assert.ok(e instanceof ReferenceCrashedError, `${what}: ${e}`);
        check(e);
        if (proc) {
          // Later requests get the same error; the child is gone, not orphaned.
          await assert.rejects(() => proc!.request("info", { model: 1 }), (x: unknown) => x === e);
          assert.ok(gone(proc.pid), `${what}: pid ${proc.pid} still exists`);
        }
      } finally {
        await proc?.close();
      }
    };
    await expectCrash("deadline", { timeouts: { op: 1 } }, async (p) => {
      const m = await p.load(ok, { threads: 1, ctx: 512 });
      await m.eval(Int32Array.from({ length: 256 }, (_, i) => i), { positions: "all" });
    }, (e) => {
      assert.equal(e.report.kind, "timeout");
      assert.equal(e.report.op, "eval");
      assert.equal(e.report.signal, "SIGKILL");
    });
    // 64 MiB resident is below what the runtime needs with a 256k-token F32 KV cache: killed while loading.
    await expectCrash("memory", { memoryLimitBytes: 64 * 2 ** 20 }, async (p) => {
      const m = await p.load(ok, { threads: 1, ctx: 1 << 18, parity: true });
      await m.tokenize("x");
    }, (e) => {
      assert.equal(e.report.kind, "memory");
      assert.match(e.message, /outgrew its memory limit/);
    });
    await expectCrash(
      "not a driver",
      { driver: { cmd: "/bin/echo", args: ["hello"] } },
      (p) => p.request("info"),
      (e) => {
        assert.equal(e.report.kind, "protocol");
        assert.match(e.report.message, /"hello\\n"/);
      },
    );
    await expectCrash(
      "missing driver",
      { driver: { cmd: `${dir}/no-such-driver`, args: [] } },
      (p) => p.request("info"),
      (e) => {
        assert.equal(e.report.kind, "exit");
        assert.notEqual(e.report.exitCode, 0);
        assert.equal(e.report.op, "hello");
      },
    );
    await expectCrash("killed", {}, async (p) => {
      const m = await p.load(ok, { threads: 1, ctx: 64 });
      Deno.kill(p.pid, "SIGKILL");
      await m.tokenize("x");
    }, (e) => {
      assert.equal(e.report.kind, "signal");
      assert.equal(e.report.signal, "SIGKILL");
    });
    // And the next process works.
    await using p = await ReferenceProcess.spawn();
    await using m = await p.load(ok, { threads: 1, ctx: 64 });
    assert.ok((await m.tokenize("Hello")).length > 0);
  });
});
