/**
 * The reference child process never outlives the program that started it: interrupted by SIGINT or SIGTERM
 * (`parity`, `validate`), ended through `Deno.exit` after an error, or killed by SIGKILL, while the child is in
 * the middle of a long request. Checked on the real process table: every driver process the program started is
 * gone within a second of the program's exit (a long greedy request would keep an orphan computing for many
 * seconds), and its bulk-payload directory is removed (after SIGKILL: by the next reference process started).
 */
import assert from "node:assert/strict";
import { transcodeToFloat } from "../engine/convert/transcode_float.ts";
import { ReferenceProcess } from "../ffi/mod.ts";
import { CONFIG, MAIN } from "../cli/_testing.ts";
import { fixtureModel, withTempDir } from "./_fixtures.ts";
import { ikDriver } from "./_reference.ts";

const HOLDER = new URL("./_ref_holder.ts", import.meta.url).pathname;
/** Big enough that the reference's greedy trajectory of {@link STEPS} tokens runs for many seconds. */
const MID = { embd: 1024, ff: 2048, layers: 6, ctx: 2048 } as const;
const CTX = 2048;
const STEPS = 1800;
/** How long after the program's exit its driver may take to be gone (a SIGKILL takes microseconds). */
const GONE_WITHIN_MS = 1000;

interface Proc {
  readonly pid: number;
  /** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat): tells a reused pid apart. */
  readonly start: string;
  readonly cmdline: string;
}

/** Fields of /proc/<pid>/stat after the command name (which may itself contain spaces and parentheses). */
function statFields(pid: number): string[] | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** The processes whose parent is `parent` (found by scanning /proc). */
function childrenOf(parent: number): Proc[] {
  const out: Proc[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    const pid = Number(e.name);
    if (!Number.isInteger(pid)) continue;
    const f = statFields(pid);
    if (!f || Number(f[1]) !== parent) continue;
    let cmdline = "";
    try {
      cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ");
    } catch {
      // gone meanwhile
    }
    out.push({ pid, start: f[19], cmdline });
  }
  return out;
}

/** Whether `p` still runs (a zombie nobody reaped yet has ended: it holds no memory and computes nothing). */
function running(p: Proc): boolean {
  const f = statFields(p.pid);
  return f !== null && f[19] === p.start && f[0] !== "Z";
}

async function assertGone(procs: readonly Proc[], what: string): Promise<void> {
  const t0 = performance.now();
  while (procs.some(running) && performance.now() - t0 < GONE_WITHIN_MS) await new Promise((r) => setTimeout(r, 20));
  const left = procs.filter(running);
  for (const p of left) {
    try {
      Deno.kill(p.pid, "SIGKILL");
    } catch {
      // ended just now
    }
  }
  assert.deepEqual(left.map((p) => `${p.pid} ${p.cmdline}`), [], `${what}: driver processes outlived the program`);
}

/** Bulk-payload directories that the reference processes of program `pid` created and left. */
function bulkDirsOf(pid: number): string[] {
  const out: string[] = [];
  for (const dir of ["/dev/shm", Deno.env.get("TMPDIR") ?? "/tmp"]) {
    try {
      for (const e of Deno.readDirSync(dir)) {
        if (e.name.startsWith(`crossval-ref-${pid}-`)) out.push(`${dir}/${e.name}`);
      }
    } catch {
      // no such directory here
    }
  }
  return out;
}

/**
 * Start `args` (a `deno run` command line), wait until its stderr matches `when`, note its driver processes, send
 * `signal` (if any), then close its stdin (the holder's `exit` mode waits for that, so the processes are noted
 * before it exits), and wait for its exit.
 */
async function runUntil(
  args: readonly string[],
  when: RegExp,
  signal: Deno.Signal | null,
): Promise<{ code: number; stderr: string; drivers: Proc[]; pid: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...args],
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  let drivers: Proc[] | null = null;
  for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
    stderr += text;
    if (!drivers && when.test(stderr)) {
      drivers = childrenOf(child.pid);
      if (signal) child.kill(signal);
      await child.stdin.close().catch(() => {});
    }
  }
  if (!drivers) await child.stdin.close().catch(() => {});
  const { code } = await child.status;
  assert.ok(drivers, `the trigger ${when} never appeared:\n${stderr}`);
  return { code, stderr, drivers, pid: child.pid };
}

const driverLike = /ref_child\.ts|__reference-child|crossval-ref-driver/;

for (const [command, signal, code] of [["parity", "SIGTERM", 143], ["parity", "SIGINT", 130]] as const) {
  Deno.test(`crossval ${command} interrupted by ${signal} mid-request leaves no reference process behind`, async () => {
    const model = await fixtureModel(MID);
    await withTempDir("ref_exit_cli_", async (dir) => {
      const r = await runUntil(
        [
          ...["run", "-A", "--config", CONFIG, MAIN, command, "--model", model, "--steps", String(STEPS)],
          ...["--ctx", String(CTX), "--out", `${dir}/parity.json`],
        ],
        /✓ logits/,
        signal,
      );
      assert.equal(r.code, code, r.stderr);
      assert.ok(r.drivers.some((p) => driverLike.test(p.cmdline)), `no driver process seen: ${r.drivers}`);
      await assertGone(r.drivers, `${command} after ${signal}`);
      assert.deepEqual(bulkDirsOf(r.pid), [], "bulk-payload directory removed");
    });
  });
}

Deno.test("crossval validate interrupted by SIGTERM leaves no reference process behind", async () => {
  await withTempDir("ref_exit_validate_", async (dir) => {
    const r = await runUntil(
      ["run", "-A", "--config", CONFIG, MAIN, "validate", "--steps", "256", "--threads", "1", "--out", `${dir}/p.json`],
      /✓ logits/,
      "SIGTERM",
    );
    assert.equal(r.code, 143, r.stderr);
    assert.ok(r.drivers.some((p) => driverLike.test(p.cmdline)), `no driver process seen: ${r.drivers}`);
    await assertGone(r.drivers, "validate after SIGTERM");
    assert.deepEqual(bulkDirsOf(r.pid), [], "bulk-payload directory removed");
  });
});

/** The driver argument of the holder and a model it runs, per driver. */
async function driverCase(name: "deno" | "ik_llama.cpp", dir: string): Promise<[string, string]> {
  if (name === "deno") return ["deno", await fixtureModel(MID)];
  // ik_llama.cpp computes the lossless F32 transcode of a bitnet-b1.58 model (docs/references.md).
  const f32 = `${dir}/f32.gguf`;
  await transcodeToFloat(await fixtureModel({ ...MID, arch: "bitnet-b1.58", type: "i2_s" }), f32);
  return [(await ikDriver()).path, f32];
}

for (const name of ["deno", "ik_llama.cpp"] as const) {
  Deno.test(`a program that exits or is killed mid-request takes its ${name} driver with it`, async () => {
    await withTempDir("ref_exit_lib_", async (dir) => {
      const [driver, model] = await driverCase(name, dir);
      const holder = ["run", "-A", "--config", CONFIG, HOLDER, driver, model];

      const exited = await runUntil([...holder, "exit", String(CTX), String(STEPS)], /^busy \d+/m, null);
      assert.equal(exited.code, 1, exited.stderr);
      assert.ok(exited.drivers.length > 0, exited.stderr);
      await assertGone(exited.drivers, `${name}: Deno.exit mid-request`);
      assert.deepEqual(bulkDirsOf(exited.pid), [], "bulk-payload directory removed on Deno.exit");

      const killed = await runUntil([...holder, "wait", String(CTX), String(STEPS)], /^busy \d+/m, "SIGKILL");
      assert.equal(killed.code, 137, killed.stderr);
      await assertGone(killed.drivers, `${name}: SIGKILL mid-request`);
      // Nothing runs in a killed program to remove its directory: the next reference process does.
      await (await ReferenceProcess.spawn({ log: "none" })).close();
      assert.deepEqual(bulkDirsOf(killed.pid), [], "a killed program's bulk-payload directory is swept");
    });
  });
}
