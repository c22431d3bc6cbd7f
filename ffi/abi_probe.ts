/**
 * Prove struct layouts against a C header: generate a tiny C program that prints `sizeof`/`offsetof` of every
 * field the binding uses (and the enum values it passes), compile it with the system C compiler against the
 * header, run it, and compare with the binding's own layouts. Used by the layout test (pinned header) and by the
 * ABI guard for `BITNET_CPP_DIR` builds (the user's header).
 *
 * @module
 */

import { BINDING_CONSTANTS, BINDING_LAYOUTS, type StructLayout } from "./struct_layout.ts";

/** What the C compiler says about one struct. */
export interface ProbedStruct {
  /** `sizeof(struct ...)`. */
  readonly size: number;
  /** Per field: `[offsetof, sizeof]`. */
  readonly fields: Readonly<Record<string, readonly [number, number]>>;
}

/** Layouts and constants as compiled from a header. */
export interface ProbedAbi {
  /** Keyed by C struct name. */
  readonly structs: Readonly<Record<string, ProbedStruct>>;
  /** Enum values keyed by C name. */
  readonly constants: Readonly<Record<string, number>>;
}

/** Result of probing a header: the ABI, or why the probe could not compile or run. */
export type ProbeResult =
  | { readonly ok: true; readonly abi: ProbedAbi }
  | {
    readonly ok: false;
    /** `no-compiler`: no C compiler on PATH; `compile`: the header does not declare what the binding uses. */
    readonly reason: "no-compiler" | "compile" | "run";
    /** Compiler or runtime diagnostics (first lines). */
    readonly message: string;
  };

/**
 * The C source of the probe for the given layouts and constants.
 *
 * @param layouts Struct layouts to print.
 * @param constants Enum names to print.
 * @returns C source that includes `llama.h` and prints one JSON object.
 */
export function probeSource(
  layouts: readonly StructLayout[] = BINDING_LAYOUTS,
  constants: readonly string[] = Object.keys(BINDING_CONSTANTS),
): string {
  const lines = [
    "#include <stddef.h>",
    "#include <stdio.h>",
    '#include "llama.h"',
    '#define F(S, f) printf("%s\\"%s\\":[%zu,%zu]", first ? "" : ",", #f, offsetof(S, f), sizeof(((S *)0)->f)); first = 0;',
    "int main(void) {",
    "  int first;",
    '  printf("{\\"structs\\":{");',
  ];
  layouts.forEach((l, i) => {
    lines.push(
      `  printf("%s\\"${l.cName}\\":{\\"size\\":%zu,\\"fields\\":{", ${i ? '","' : '""'}, sizeof(${l.cName}));`,
    );
    lines.push("  first = 1;");
    for (const f of l.fields) lines.push(`  F(${l.cName}, ${f.name})`);
    lines.push('  printf("}}");');
  });
  lines.push('  printf("},\\"constants\\":{");');
  constants.forEach((c, i) => lines.push(`  printf("%s\\"${c}\\":%d", ${i ? '","' : '""'}, (int)(${c}));`));
  lines.push('  printf("}}\\n");', "  return 0;", "}");
  return lines.join("\n") + "\n";
}

function firstLines(bytes: Uint8Array, n: number): string {
  return new TextDecoder().decode(bytes).trim().split("\n").filter((l) => /error|warning|fatal/.test(l)).slice(0, n)
    .join("\n") || new TextDecoder().decode(bytes).trim().split("\n").slice(0, n).join("\n");
}

/**
 * Compile and run the probe against headers.
 *
 * @param includeDirs Directories for `-I` (for llama.cpp: `<root>/include` and `<root>/ggml/include`).
 * @param opts.cc C compiler (default `CC` from the environment, else `gcc`).
 * @returns The probed ABI, or the reason it could not be probed; never throws for a bad header.
 * @example
 * ```ts
 * import { probeAbi } from "./abi_probe.ts";
 * import { llamaSourceDir } from "./llama_source.ts";
 * const src = await llamaSourceDir();
 * const r = await probeAbi([`${src}/include`, `${src}/ggml/include`]);
 * if (r.ok) console.log(r.abi.structs["struct llama_batch"].size); // 56
 * ```
 */
export async function probeAbi(includeDirs: readonly string[], opts: { cc?: string } = {}): Promise<ProbeResult> {
  const cc = opts.cc ?? Deno.env.get("CC") ?? "gcc";
  const dir = await Deno.makeTempDir({ prefix: "bitnet-abi-probe-" });
  try {
    await Deno.writeTextFile(`${dir}/probe.c`, probeSource());
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command(cc, {
        args: ["-std=c11", ...includeDirs.flatMap((d) => ["-I", d]), "probe.c", "-o", "probe"],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (e) {
      return { ok: false, reason: "no-compiler", message: `"${cc}" is not runnable (${(e as Error).message})` };
    }
    if (!out.success) return { ok: false, reason: "compile", message: firstLines(out.stderr, 6) };
    const run = await new Deno.Command(`${dir}/probe`, { stdout: "piped", stderr: "piped" }).output();
    if (!run.success) return { ok: false, reason: "run", message: firstLines(run.stderr, 6) };
    return { ok: true, abi: JSON.parse(new TextDecoder().decode(run.stdout)) as ProbedAbi };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Differences between a probed ABI and the binding's layouts, one readable line each (empty when identical).
 *
 * @param abi What the compiler reported.
 * @param layouts The binding's layouts.
 * @param constants The binding's enum values.
 * @returns Lines like `struct llama_context_params: size 272, binding expects 264`.
 */
export function compareAbi(
  abi: ProbedAbi,
  layouts: readonly StructLayout[] = BINDING_LAYOUTS,
  constants: Readonly<Record<string, number>> = BINDING_CONSTANTS,
): string[] {
  const diffs: string[] = [];
  for (const l of layouts) {
    const p = abi.structs[l.cName];
    if (!p) {
      diffs.push(`${l.cName}: not probed`);
      continue;
    }
    if (p.size !== l.size) diffs.push(`${l.cName}: size ${p.size}, binding expects ${l.size}`);
    for (const f of l.fields) {
      const got = p.fields[f.name];
      if (!got) diffs.push(`${l.cName}.${f.name}: missing`);
      else if (got[0] !== f.offset || got[1] !== f.size) {
        diffs.push(
          `${l.cName}.${f.name}: offset ${got[0]} size ${got[1]}, binding expects offset ${f.offset} size ${f.size}`,
        );
      }
    }
  }
  for (const [name, value] of Object.entries(constants)) {
    if (abi.constants[name] !== value) diffs.push(`${name} = ${abi.constants[name]}, binding expects ${value}`);
  }
  return diffs;
}
