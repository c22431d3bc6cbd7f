/**
 * Usage errors across commands (cli/_flags.ts): an unknown flag, a missing value, a number out of range or not a
 * number at all exits 2 before any work, says what is allowed, and ends with the usage line of that command.
 */
import assert from "node:assert/strict";
import { crossval } from "./_testing.ts";

interface Case {
  /** Arguments (no model or file needs to exist: the error comes first). */
  readonly args: readonly string[];
  /** What stderr must say. */
  readonly error: RegExp;
  /** The usage line of the command. */
  readonly usage: string;
}

const RUN = "Usage: crossval run --model <gguf> [options]";
const REF_RUN = "Usage: crossval ref-run --model <gguf> [options]";
const PARITY = "Usage: crossval parity [options]";
const BENCH = "Usage: crossval bench [options]";
const VALIDATE = "Usage: crossval validate [options]";
const FETCH = "Usage: crossval fetch [options]";
const INSPECT = "Usage: crossval inspect <model> [options]";
const VERIFY = "Usage: crossval baselines verify [options]";
const int = (lo: number, hi: number) => new RegExp(`Expected an integer from ${lo} to ${hi}\\.`);

const CASES: readonly Case[] = [
  // unknown flags
  { args: ["run", "--model", "m.gguf", "--bogus"], error: /unknown option '--bogus'/, usage: RUN },
  { args: ["parity", "--tread", "2"], error: /unknown option '--tread'/, usage: PARITY },
  { args: ["fetch", "--tier", "ci", "--verify"], error: /unknown option '--verify'/, usage: FETCH },
  { args: ["--bogus"], error: /unknown option '--bogus'/, usage: "Usage: crossval <command> [options]" },
  { args: ["nosuch"], error: /unknown command 'nosuch'/, usage: "Usage: crossval <command> [options]" },
  // missing values and arguments
  { args: ["run", "--model"], error: /option '--model <gguf>' argument missing/, usage: RUN },
  { args: ["bench", "--threads"], error: /option '--threads <n>' argument missing/, usage: BENCH },
  { args: ["inspect"], error: /missing required argument 'model'/, usage: INSPECT },
  { args: ["ref-run", "--prompt", "x"], error: /required option '--model <gguf>' not specified/, usage: REF_RUN },
  // --threads 0, -n -1, and the other ranges, each naming what is allowed
  { args: ["run", "--model", "m", "--prompt", "x", "--threads", "0"], error: int(1, 512), usage: RUN },
  { args: ["ref-run", "--model", "m", "--prompt", "x", "--threads", "0"], error: int(1, 512), usage: REF_RUN },
  { args: ["parity", "--model", "m", "--threads", "0"], error: int(1, 512), usage: PARITY },
  { args: ["bench", "--threads", "0"], error: int(1, 512), usage: BENCH },
  { args: ["validate", "--threads", "0"], error: int(1, 512), usage: VALIDATE },
  { args: ["run", "--model", "m", "--prompt", "x", "-n", "-1"], error: int(0, 1048576), usage: RUN },
  { args: ["ref-run", "--model", "m", "--prompt", "x", "-n", "-1"], error: int(0, 1048576), usage: REF_RUN },
  { args: ["parity", "--model", "m", "--steps", "-1"], error: int(0, 1048576), usage: PARITY },
  { args: ["parity", "--model", "m", "--ctx", "8"], error: int(16, 1048576), usage: PARITY },
  { args: ["parity", "--model", "m", "--timeout", "3000000"], error: int(1, 2147483), usage: PARITY },
  { args: ["validate", "--timeout", "0"], error: int(1, 2147483), usage: VALIDATE },
  { args: ["bench", "--reps", "0"], error: int(1, 10000), usage: BENCH },
  {
    args: ["reference", "build", "--jobs", "0"],
    error: int(1, 1024),
    usage: "Usage: crossval reference build [options]",
  },
  { args: ["bench", "--seed", "4294967296"], error: int(0, 4294967295), usage: BENCH },
  { args: ["bench", "--pp", "64,-8"], error: int(0, 1048576), usage: BENCH },
  {
    args: ["run", "--model", "m", "--prompt", "x", "--top-p", "2"],
    error: /Expected a number in \(0, 1\]\./,
    usage: RUN,
  },
  { args: ["run", "--model", "m", "--prompt", "x", "--temp", "-1"], error: /Expected a number >= 0\./, usage: RUN },
  { args: ["baselines", "verify", "--threshold", "1"], error: /Expected a number in \(0, 1\)\./, usage: VERIFY },
  // non-numeric numbers: words, fractions for integers, hex, exponents, NaN, empty
  { args: ["run", "--model", "m", "--prompt", "x", "-n", "abc"], error: /argument 'abc' is invalid/, usage: RUN },
  { args: ["run", "--model", "m", "--prompt", "x", "--threads", "1.5"], error: /argument '1.5'/, usage: RUN },
  { args: ["bench", "--threads", "0x10"], error: /argument '0x10' is invalid/, usage: BENCH },
  { args: ["bench", "--reps", "1e3"], error: /argument '1e3' is invalid/, usage: BENCH },
  { args: ["parity", "--model", "m", "--steps", ""], error: /argument '' is invalid/, usage: PARITY },
  { args: ["baselines", "verify", "--confidence", "NaN"], error: /argument 'NaN' is invalid/, usage: VERIFY },
  // bad choices and usage errors raised by an adapter get the same ending
  { args: ["fetch", "--tier", "nightly"], error: /Allowed choices are ci, integration, bench/, usage: FETCH },
  { args: ["run", "--model", "m"], error: /exactly one of --prompt <text> or --prompt-file <file>/, usage: RUN },
  { args: ["parity"], error: /Pass exactly one of --model <gguf\|name> or --tier <tier>/, usage: PARITY },
];

for (const c of CASES) {
  Deno.test(`crossval ${c.args.join(" ")} is a usage error (exit 2) ending with its usage line`, async () => {
    const r = await crossval(c.args);
    assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr, c.error);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.at(-2), c.usage, r.stderr);
    assert.match(lines.at(-1)!, /^See: crossval .*--help$/);
    assert.equal(r.stdout, "", "nothing on stdout");
  });
}
