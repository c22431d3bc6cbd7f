/**
 * The GitHub Actions recipe (`.github/workflows/crossval.yml`) is valid YAML, has the two tiers of the validation spec's
 * Phase F, and runs what `.ci/run` runs: the same command with the same environment and the same pinned Deno. Every
 * `deno task` it names exists, and every `crossval` command line it contains parses in our CLI.
 */
import assert from "node:assert/strict";
import { parseDocument } from "yaml";

const ROOT = new URL("..", import.meta.url);
const WORKFLOW = new URL(".github/workflows/crossval.yml", ROOT);
const CI_RUN = new URL(".ci/run", ROOT);

interface Step {
  name?: string;
  run?: string;
  uses?: string;
}
interface Job {
  if?: string;
  env?: Record<string, string>;
  steps: Step[];
  "runs-on": string;
}
interface Workflow {
  on: Record<string, unknown>;
  jobs: Record<string, Job>;
}

async function workflow(): Promise<Workflow> {
  const doc = parseDocument(await Deno.readTextFile(WORKFLOW), { uniqueKeys: true, prettyErrors: true });
  assert.deepEqual(doc.errors.map((e) => e.message), [], "the workflow is not valid YAML");
  assert.deepEqual(doc.warnings.map((e) => e.message), []);
  return doc.toJS() as Workflow;
}

/** `.ci/run`: the command it execs and the variables it exports (with their default values). */
async function ciRun(): Promise<{ command: string; env: Record<string, string> }> {
  const lines = (await Deno.readTextFile(CI_RUN)).split("\n").map((l) => l.trim());
  const execs = lines.filter((l) => l.startsWith("exec "));
  assert.equal(execs.length, 1, ".ci/run must end in exactly one exec line");
  const env: Record<string, string> = {};
  for (const l of lines) {
    const m = /^export (\w+)="\$\{\w+:-([^}]*)\}"$/.exec(l) ?? /^export (\w+)="?([^"$]*)"?$/.exec(l);
    if (m) env[m[1]] = m[2];
  }
  return { command: execs[0].slice("exec ".length).trim(), env };
}

/** Every shell command of a job: run blocks split into lines, `&&` chains and `cd` prefixes. */
function commands(job: Job): string[] {
  return job.steps.flatMap((s) => (s.run ?? "").split("\n"))
    .flatMap((l) => l.split("&&"))
    .map((c) => c.trim())
    .filter((c) => c && !c.startsWith("#"));
}

Deno.test("the CI recipe is valid YAML with a PR-light and a nightly-full tier", async () => {
  const wf = await workflow();
  assert.deepEqual(Object.keys(wf.jobs).sort(), ["nightly-full", "pr-light"]);
  assert.ok("pull_request" in wf.on && "schedule" in wf.on && "workflow_dispatch" in wf.on, JSON.stringify(wf.on));
  // Phase F: a `crossval` label on a pull request triggers the full validation.
  assert.match(wf.jobs["nightly-full"].if ?? "", /labels\.\*\.name, 'crossval'/);
  assert.match(wf.jobs["nightly-full"].if ?? "", /schedule/);
  for (const job of Object.values(wf.jobs)) {
    assert.ok(job.steps.some((s) => s.uses?.startsWith("actions/checkout@")), "every job checks the code out");
  }
});

Deno.test("both tiers run exactly the command and environment of .ci/run, with its pinned Deno", async () => {
  const wf = await workflow();
  const ci = await ciRun();
  assert.equal(ci.command, "npx -y deno@2.9.6 task test", "the README's test command");
  assert.deepEqual(ci.env, { CI: "true" });
  const pin = /deno@(\S+)/.exec(ci.command)![1];
  for (const [name, job] of Object.entries(wf.jobs)) {
    assert.ok(commands(job).includes(ci.command), `${name} does not run "${ci.command}"`);
    for (const [k, v] of Object.entries(ci.env)) assert.equal(job.env?.[k], v, `${name}: env ${k}`);
    for (const c of commands(job)) {
      for (const m of c.matchAll(/deno@(\S+)/g)) assert.equal(m[1], pin, `${name}: "${c}" pins another Deno`);
    }
  }
});

Deno.test("every deno task and crossval command line in the recipe exists and parses", async () => {
  const wf = await workflow();
  const tasks = Object.keys(JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks);
  const cli: string[][] = [];
  for (const job of Object.values(wf.jobs)) {
    for (const c of commands(job)) {
      const words = c.replace(/^env -i (\S+=\S+ )+/, "").split(/\s+/);
      const t = words.indexOf("task");
      if (words[0] === "npx" && t > 0) {
        assert.ok(tasks.includes(words[t + 1]), `"${c}": no deno task ${words[t + 1]}`);
        if (words[t + 1] === "crossval") cli.push(words.slice(t + 2));
      }
      if (/(^|\/)dist\/crossval"?$/.test(words[0])) cli.push(words.slice(1));
    }
  }
  assert.ok(cli.length >= 8, `expected the recipe's crossval commands, found ${cli.length}`);
  const main = new URL("cli/main.ts", ROOT).pathname;
  for (const args of cli) {
    // The words before the first option (command, subcommand, files), then --help: commander rejects an unknown
    // command with exit 2 and prints the help of a known one.
    const firstOption = args.findIndex((a) => a.startsWith("-"));
    const words = firstOption < 0 ? args : args.slice(0, firstOption);
    if (words.length === 0) continue; // `crossval --version`, checked by dist_version_test.ts
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, ...words, "--help"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, `crossval ${words.join(" ")} --help: ${new TextDecoder().decode(out.stderr)}`);
    // Each option the recipe passes is one the command declares.
    const help = new TextDecoder().decode(out.stdout);
    for (const opt of args.filter((a) => a.startsWith("--"))) {
      assert.ok(help.includes(opt), `crossval ${words.join(" ")} has no option ${opt}`);
    }
  }
});
