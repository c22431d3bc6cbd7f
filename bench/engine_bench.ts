/**
 * Engine speed and memory against llama.cpp: `deno bench -A bench/engine_bench.ts`.
 *
 * For each model (lockfile names in `BENCH_MODELS`, default `ci-tiny,bench-2b4t-tq2`; generated into the cache on
 * first use, ~10 s and 1.2 GB for the 2B4T-shape one), our engine (`wasm` backend) and llama.cpp (through the FFI
 * bridge, its default F16 KV cache and flash attention "auto") run the same llama-bench tests on the same token ids
 * with the same thread count (`BENCH_THREADS`, default the core count), in one process: `pp128` (prompt processing,
 * one 128-token evaluation) and `tg32` (32 single-token decodes), once per numerics profile of our engine
 * (`BENCH_NUMERICS`, default `fast,exact`). Each pair is a `deno bench` group with llama.cpp as the baseline, so
 * `deno bench` prints the ratio; an `unload` summary prints tokens/s, the ratio against the targets of issue 5
 * (>= 0.5x for both) and the peak resident memory of our engine (its first profile, measured in a child process:
 * load + pp128 + tg32, `VmHWM`) against 1.3x the file size.
 *
 * @module
 */

import { Engine } from "../engine/engine.ts";
import { CppModel } from "../ffi/mod.ts";
import { defaultLockfilePath, fetchModels, Lockfile, resolveModel } from "../lock/mod.ts";
import { type BenchTest, parseTestName, repetitionTokens, timeRepetition } from "./measure.ts";
import { type BenchSubject, cppBenchSubject, engineBenchSubject } from "./subject.ts";
import { resolveThreads } from "../engine/backends/create.ts";
import { isNumericsProfile, type NumericsProfile } from "../engine/backends/type_kernels.ts";

const TESTS = ["pp128", "tg32"].map(parseTestName);
const N_CTX = 512;
/** Issue 5 targets: decode and prefill >= 0.5x llama.cpp, peak RSS <= 1.3x the file. */
const TARGET_RATIO = 0.5;
const TARGET_MEMORY = 1.3;

/** Peak resident set (VmHWM) of this process, bytes. */
function peakRss(): number {
  const m = Deno.readTextFileSync("/proc/self/status").match(/^VmHWM:\s+(\d+) kB/m);
  if (!m) throw new Error("Cannot read VmHWM from /proc/self/status: peak memory needs Linux procfs");
  return Number(m[1]) * 1024;
}

// Child mode: load one side, run pp128 + tg32 once, report the peak RSS as JSON on stdout.
if (Deno.env.get("ENGINE_BENCH_CHILD")) {
  const [side, path, threads, numerics] = JSON.parse(Deno.env.get("ENGINE_BENCH_CHILD")!) as [
    string,
    string,
    number,
    NumericsProfile,
  ];
  const baseline = peakRss();
  const subject: BenchSubject = side === "engine"
    ? engineBenchSubject(await Engine.load(path, { threads, nCtx: N_CTX, numerics }))
    : cppBenchSubject(await CppModel.load(path, { threads, ctx: N_CTX }));
  for (const test of TESTS) {
    await timeRepetition(
      subject,
      test,
      repetitionTokens(test, 0, { seed: 1, nVocab: subject.nVocab, bos: subject.bos }),
    );
  }
  console.log(JSON.stringify({ peak: peakRss(), baseline }));
  Deno.exit(0);
}

async function childPeak(
  side: "engine" | "llama.cpp",
  path: string,
  threads: number,
  numerics: NumericsProfile,
): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", new URL("../deno.json", import.meta.url).pathname, import.meta.filename!],
    env: { ENGINE_BENCH_CHILD: JSON.stringify([side === "engine" ? "engine" : "cpp", path, threads, numerics]) },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  if (!out.success) {
    throw new Error(`Peak-memory child for ${side} failed: ${new TextDecoder().decode(out.stderr).slice(-500)}`);
  }
  const r = JSON.parse(text) as { peak: number; baseline: number };
  return r.peak;
}

const envThreads = Deno.env.get("BENCH_THREADS");
const threads = resolveThreads("wasm", envThreads === undefined ? undefined : Number(envThreads));
const names = (Deno.env.get("BENCH_MODELS") ?? "ci-tiny,bench-2b4t-tq2").split(",").map((s) => s.trim()).filter(
  Boolean,
);
const profiles = (Deno.env.get("BENCH_NUMERICS") ?? "fast,exact").split(",").map((s) => s.trim());
for (const p of profiles) {
  if (!isNumericsProfile(p)) throw new RangeError(`BENCH_NUMERICS: "${p}" is not a numerics profile; use fast, exact`);
}
const lock = await Lockfile.load(defaultLockfilePath());

interface Row {
  model: string;
  numerics: NumericsProfile;
  fileBytes: number;
  test: BenchTest;
  ours: number[];
  theirs: number[];
}
const rows: Row[] = [];
const memory: { model: string; fileBytes: number; engine: number; llama: number }[] = [];
const open: Disposable[] = [];

for (const name of names) {
  const report = await fetchModels(lock, { model: name });
  if (!report.ok) {
    throw new Error(
      `Cannot provision bench model "${name}": ${JSON.stringify(report.models)}. Run: crossval fetch --model ${name}`,
    );
  }
  const { path } = await resolveModel(name);
  const fileBytes = Deno.statSync(path).size;
  memory.push({
    model: name,
    fileBytes,
    engine: await childPeak("engine", path, threads, profiles[0] as NumericsProfile),
    llama: await childPeak("llama.cpp", path, threads, profiles[0] as NumericsProfile),
  });
  const cpp = await CppModel.load(path, { threads, ctx: N_CTX });
  open.push(cpp);
  const big = fileBytes > 256 << 20;
  for (const numerics of profiles as NumericsProfile[]) {
    const engine = await Engine.load(path, { threads, nCtx: N_CTX, numerics });
    open.push(engine);
    const sides: [string, BenchSubject][] = [
      ["llama.cpp", cppBenchSubject(cpp)],
      [`engine ${numerics}`, engineBenchSubject(engine)],
    ];
    for (const test of TESTS) {
      const row: Row = { model: name, numerics, fileBytes, test, ours: [], theirs: [] };
      rows.push(row);
      for (const [side, subject] of sides) {
        let rep = 0;
        Deno.bench({
          name: `${side} ${test.name}`,
          group: `${name} ${test.name} ${numerics} (${threads} threads)`,
          baseline: side === "llama.cpp",
          n: big ? 3 : 10,
          warmup: 1,
          async fn(b) {
            const ids = repetitionTokens(test, rep++, { seed: 1, nVocab: subject.nVocab, bos: subject.bos });
            b.start();
            const r = await timeRepetition(subject, test, ids);
            b.end();
            (side === "llama.cpp" ? row.theirs : row.ours).push(r.ts);
          },
        });
      }
    }
  }
}

function median(x: number[]): number {
  const s = [...x].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
}

globalThis.addEventListener("unload", () => {
  for (const d of open) d[Symbol.dispose]();
  const lines = [`\nengine vs llama.cpp, ${threads} threads (median tokens/s over the measured repetitions)`];
  for (const r of rows) {
    const ours = median(r.ours), theirs = median(r.theirs), ratio = ours / theirs;
    lines.push(
      `  ${r.model.padEnd(16)} ${r.test.name.padEnd(6)} ${r.numerics.padEnd(5)} engine ${
        ours.toFixed(1).padStart(9)
      }  llama.cpp ${theirs.toFixed(1).padStart(9)}` +
        `  ratio ${ratio.toFixed(2)}x  ${ratio >= TARGET_RATIO ? "meets" : "below"} the ${TARGET_RATIO}x target`,
    );
  }
  for (const m of memory) {
    const r = m.engine / m.fileBytes;
    if (m.fileBytes < 256 << 20) {
      lines.push(
        `  ${m.model.padEnd(16)} peak RSS engine ${(m.engine / 2 ** 20).toFixed(0)} MiB, llama.cpp ${
          (m.llama / 2 ** 20).toFixed(0)
        } MiB (the runtime dominates a small file: no ratio)`,
      );
      continue;
    }
    lines.push(
      `  ${m.model.padEnd(16)} peak RSS engine ${(m.engine / 2 ** 20).toFixed(0)} MiB (${r.toFixed(2)}x the ${
        (m.fileBytes / 2 ** 20).toFixed(0)
      } MiB file, ` +
        `${r <= TARGET_MEMORY ? "meets" : "above"} the ${TARGET_MEMORY}x target), llama.cpp ${
          (m.llama / 2 ** 20).toFixed(0)
        } MiB`,
    );
  }
  console.log(lines.join("\n"));
});
