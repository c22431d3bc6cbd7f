/**
 * The architecture's forbidden directions (CONTRIBUTING.md, "Layout"), checked on the real syntax tree of
 * every source file (Deno's own parser through `Deno.lint.runPlugin`, so imports quoted in JSDoc examples, strings
 * and comments do not count, and dynamic `import()` and `export ... from` do): one table of rules, one test each.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/** The folders below `cli/`: libraries that compute and report through return values and events. */
const LIBRARY_FOLDERS = ["engine", "kernels-wasm", "ffi", "lock", "parity", "bench", "receipts"] as const;

/** One forbidden direction: no non-test file under `from` imports anything under one of `to`. */
interface DirectionRule {
  readonly from: string;
  readonly to: readonly string[];
  readonly why: string;
}

const DIRECTIONS: readonly DirectionRule[] = [
  {
    from: "engine",
    to: ["ffi", "parity", "bench", "lock", "cli"],
    why: "the engine stands alone: a user embeds it without llama.cpp, the fetcher or the CLI",
  },
  {
    from: "ffi",
    to: ["engine"],
    why: "the reference must not share code paths with what it checks",
  },
  {
    from: "receipts",
    to: ["parity", "bench", "engine", "ffi", "lock", "cli"],
    why: "receipts are the law both producers obey: gates, metrics and statistics live here, and a receipt is " +
      "verified without the engine, the reference or the fetcher",
  },
  ...LIBRARY_FOLDERS.filter((f) => f !== "engine" && f !== "receipts").map((from) => ({
    from,
    to: ["cli"],
    why: "cli/ is the top: it wires the libraries, never the other way round",
  })),
];

/**
 * Files below `cli/` that are programs rather than library code, so they may print, exit and read arguments:
 * every `*_bench.ts` (a `deno bench` program) and these scripts.
 */
const PROGRAMS: ReadonlyMap<string, string> = new Map([
  ["kernels-wasm/build.ts", "deno task build:wasm"],
  ["ffi/ref_child.ts", "the reference child process that ffi/ref_process.ts spawns (its stdout is the protocol)"],
  [
    "bench/kernel_profile.ts",
    "deno run -A bench/kernel_profile.ts: the per-kernel timing table of docs/performance.md",
  ],
  ["bench/kernel_ab.ts", "deno run -A bench/kernel_ab.ts BEFORE AFTER: interleaved before/after of two kernel builds"],
]);

/**
 * Known reaches into another folder's private files, each with the change that removes it. The test fails when one
 * disappears, so the list only shrinks.
 */
const PRIVATE_EXCEPTIONS: ReadonlyMap<string, string> = new Map<string, string>([]);

interface Use {
  /** Import specifier, or the name of a forbidden global use (`console.log`, `Deno.exit`, `Deno.args`). */
  readonly what: string;
  readonly kind: "import" | "global";
  readonly line: number;
}

const scanner: Deno.lint.Plugin = {
  name: "layering",
  rules: {
    uses: {
      create(ctx) {
        const specifier = (node: Deno.lint.Node, value: unknown) => {
          if (typeof value === "string") ctx.report({ node, message: `import ${value}` });
        };
        return {
          ImportDeclaration: (n) => specifier(n, n.source.value),
          ExportAllDeclaration: (n) => specifier(n, n.source.value),
          ExportNamedDeclaration: (n) => n.source && specifier(n, n.source.value),
          ImportExpression: (n) => n.source.type === "Literal" && specifier(n, n.source.value),
          'MemberExpression[object.name="console"]': (n: Deno.lint.MemberExpression) =>
            ctx.report({ node: n, message: `global console.${(n.property as Deno.lint.Identifier).name}` }),
          'MemberExpression[object.name="Deno"][property.name=/^(exit|args)$/]': (n: Deno.lint.MemberExpression) =>
            ctx.report({ node: n, message: `global Deno.${(n.property as Deno.lint.Identifier).name}` }),
        };
      },
    },
  },
};

/** Every `.ts` file of the repository (relative paths), without build outputs and dependencies. */
async function sourceFiles(dir = ROOT): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) {
      if (!["node_modules", "target", "dist", ".git", "ci"].includes(e.name)) out.push(...await sourceFiles(path));
    } else if (e.name.endsWith(".ts")) out.push(path.slice(ROOT.length + 1));
  }
  return out.sort();
}

const uses = new Map<string, Use[]>();
async function usesOf(file: string): Promise<Use[]> {
  let u = uses.get(file);
  if (!u) {
    const src = await Deno.readTextFile(`${ROOT}/${file}`);
    u = Deno.lint.runPlugin(scanner, file, src).map((d) => {
      const [kind, what] = d.message.split(" ") as [Use["kind"], string];
      return { kind, what, line: src.slice(0, d.range[0]).split("\n").length };
    });
    uses.set(file, u);
  }
  return u;
}

/** The repository-relative path an import resolves to, or undefined for packages (`npm:`, bare names). */
function resolved(file: string, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  return new URL(specifier, `file://${ROOT}/${file}`).pathname.slice(ROOT.length + 1);
}

const folderOf = (path: string) => path.includes("/") ? path.slice(0, path.indexOf("/")) : "";
const isTest = (path: string) => path.endsWith("_test.ts");

const files = await sourceFiles();

for (const rule of DIRECTIONS) {
  Deno.test(`${rule.from}/ never imports ${rule.to.map((t) => `${t}/`).join(", ")}`, async () => {
    const bad: string[] = [];
    for (const file of files.filter((f) => folderOf(f) === rule.from && !isTest(f))) {
      for (const u of await usesOf(file)) {
        const target = u.kind === "import" ? resolved(file, u.what) : undefined;
        if (target && rule.to.includes(folderOf(target))) bad.push(`${file}:${u.line} imports ${target}`);
      }
    }
    assert.deepStrictEqual(bad, [], `${rule.why}. Move what is shared below ${rule.from}/ instead:\n${bad.join("\n")}`);
  });
}

Deno.test("nothing below cli/ prints, exits or reads Deno.args (except *_bench.ts programs and listed scripts)", async () => {
  const bad: string[] = [];
  for (const file of files.filter((f) => (LIBRARY_FOLDERS as readonly string[]).includes(folderOf(f)))) {
    if (isTest(file) || file.endsWith("_bench.ts") || PROGRAMS.has(file)) continue;
    for (const u of await usesOf(file)) if (u.kind === "global") bad.push(`${file}:${u.line} uses ${u.what}`);
  }
  assert.deepStrictEqual(
    bad,
    [],
    `library code reports through return values, errors and event callbacks that cli/ renders:\n${bad.join("\n")}`,
  );
  for (const program of PROGRAMS.keys()) assert.ok(files.includes(program), `listed program ${program} is gone`);
});

Deno.test("no file imports another folder's private (_-prefixed) module", async () => {
  const found: string[] = [];
  for (const file of files) {
    for (const u of await usesOf(file)) {
      const target = u.kind === "import" ? resolved(file, u.what) : undefined;
      if (!target || !target.split("/").pop()!.startsWith("_") || folderOf(target) === folderOf(file)) continue;
      // A folder's test helpers (`_testing.ts`) are for every test, wherever it lives.
      if (target.endsWith("/_testing.ts") && (isTest(file) || folderOf(file) === "tests")) continue;
      found.push(`${file} -> ${target}`);
    }
  }
  const unexpected = found.filter((f) => !PRIVATE_EXCEPTIONS.has(f));
  assert.deepStrictEqual(
    unexpected,
    [],
    `use the folder's mod.ts or a public module instead:\n${unexpected.join("\n")}`,
  );
  const stale = [...PRIVATE_EXCEPTIONS.keys()].filter((k) => !found.includes(k));
  assert.deepStrictEqual(stale, [], "these exceptions no longer happen: delete them from PRIVATE_EXCEPTIONS");
});

Deno.test("the layering scanner sees static, dynamic and re-export imports, and ignores comments and strings", () => {
  const src = [
    '/** @example import { x } from "../ffi/mod.ts"; console.log(x); */',
    'import { a } from "./a.ts";',
    'export { b } from "../parity/b.ts";',
    'const s = "console.log(1)"; // Deno.exit(1)',
    'await import("../bench/c.ts");',
    "console.error(s); Deno.exit(2); Deno.args;",
  ].join("\n");
  const got = Deno.lint.runPlugin(scanner, "receipts/x.ts", src).map((d) => d.message);
  assert.deepStrictEqual(got.sort(), [
    "global Deno.args",
    "global Deno.exit",
    "global console.error",
    "import ../bench/c.ts",
    "import ../parity/b.ts",
    "import ./a.ts",
  ]);
});
