/**
 * A program for ref_process_exit_test.ts: starts a reference process (the Deno driver, or the C++ driver given as
 * its path), loads a model and sends one long greedy request, then reports on stderr the line
 * `busy <driver pid>` and either exits through `Deno.exit(1)` (the way the CLI ends after an error) once its stdin
 * ends (the test notes the driver processes first), with the request still running in the child, or waits to be
 * killed.
 *
 * Usage: `deno run -A tests/_ref_holder.ts <deno|path of a C++ driver> <model.gguf> <exit|wait> <ctx> <steps>`
 *
 * @module
 */

import { ReferenceProcess } from "../ffi/mod.ts";

const [driver, model, mode, ctx, steps] = Deno.args;
await using ref = await ReferenceProcess.spawn({
  log: "none",
  ...(driver === "deno" ? {} : { driver: { cmd: driver, args: [] } }),
});
await using m = await ref.load(model, { threads: 1, ctx: Number(ctx), parity: true });
const prompt = await m.tokenize("Once upon a time");
const running = m.greedyTrajectory(prompt, Number(steps));
running.catch(() => {});
// The request is on its way once its frame is written; a short pause makes sure the child is computing it.
await new Promise((r) => setTimeout(r, 300));
console.error(`busy ${ref.pid}`);
if (mode === "exit") {
  // Until the test has looked at the process table: exiting at once would race its look.
  for await (const _ of Deno.stdin.readable) {
    // read to the end
  }
  Deno.exit(1);
}
await running;
