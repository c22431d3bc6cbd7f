/**
 * What the process boundary costs (docs/adr/0012-reference-process.md): start-up of a reference process, one round
 * trip, and bulk transfer through the pipe, measured on a generated tiny model. Transfer rate is the payload over
 * (round trip − the child's own time for the work), so it counts framing, the pipe and both sides' copies:
 * - `eval` of 500 tokens with every position's logits (2 MB of f32 per reply, one payload part),
 * - `capture` of 20 tokens with every intermediate of localization (5.2 MB in 79 parts).
 *
 * Run: `deno run -A bench/ref_process_bench.ts [--reps N]`. Prints one JSON line per measurement and a summary.
 *
 * @module
 */

import { ReferenceProcess } from "../ffi/mod.ts";
import { normalizeSpec, writeSyntheticModel } from "../engine/synth/mod.ts";

const reps = Number(Deno.args[Deno.args.indexOf("--reps") + 1] ?? 0) || 10;
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];

const dir = await Deno.makeTempDir({ prefix: "ref-process-bench-" });
try {
  const path = `${dir}/tiny.gguf`;
  await writeSyntheticModel(path, normalizeSpec({}));
  const rows: Record<string, number>[] = [];
  for (let r = 0; r < reps * 2; r++) {
    // Interleaved: bulk payloads through files in /dev/shm, then everything through the pipe.
    const bulkFiles = r % 2 === 0;
    let t = performance.now();
    await using p = await ReferenceProcess.spawn({ bulkFiles });
    const spawnMs = performance.now() - t;
    await using m = await p.load(path, { parity: true, threads: 1, ctx: 512, captureTensors: true });
    await m.tokenize("warm");
    t = performance.now();
    for (let i = 0; i < 50; i++) await m.tokenize("a");
    const roundTripMs = (performance.now() - t) / 50;
    const long = Int32Array.from({ length: 500 }, (_, i) => (i * 7) % 1000);
    t = performance.now();
    const e = await m.eval(long, { positions: "all" });
    const evalMBs = e.logits.byteLength / 1e6 / ((performance.now() - t - e.decodeMs) / 1000);
    t = performance.now();
    const c = await m.capture(long.subarray(0, 20), "^([A-Za-z_]+-[0-9]+|result_norm|result_output)$");
    const bytes = [...c.tensors.values()].reduce((n, x) => n + x.data.byteLength, c.logits.byteLength);
    const captureMBs = bytes / 1e6 / ((performance.now() - t - c.decodeMs) / 1000);
    rows.push({ bulkFiles: +bulkFiles, spawnMs, roundTripMs, evalMBs, captureMBs });
  }
  for (const bulk of [1, 0]) {
    const mine = rows.filter((x) => x.bulkFiles === bulk);
    const med = (k: string) => Math.round(median(mine.map((x) => x[k])) * 100) / 100;
    console.log(JSON.stringify({
      bulk_payloads: bulk ? "files in /dev/shm" : "pipe",
      reps,
      spawn_and_hello_ms: med("spawnMs"),
      round_trip_ms: med("roundTripMs"),
      eval_all_mb_per_s: med("evalMBs"),
      capture_mb_per_s: med("captureMBs"),
    }));
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
