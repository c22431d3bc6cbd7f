/**
 * `crossval-models.lock.json`: the models we fetch, each pinned by SHA-256 and size (validation spec, Phase A).
 * Validation is the JSON Schema in `lockfile.schema.json` (one source of truth for editors and for us; run here
 * through Ajv's precompiled standalone validator), then the checks a schema cannot express: unique names, the source forms of `source.ts`, and sizes that
 * agree with hashes. Every problem is reported at once, each with its JSON location.
 *
 * @module
 */

import type { ErrorObject } from "ajv/dist/2020.js";
import { validate as schemaValidate } from "./_lockfile_schema_validator.ts";
import { LockfileError } from "./errors.ts";
import { parseSource, type Source } from "./source.ts";
import { EMPTY_SHA256 } from "./sha256.ts";

/** Model tiers: `ci` (tiny generated), `integration` (real published models), `bench` (2B4T-shape generated). */
export type Tier = "ci" | "integration" | "bench";

/** All tiers, in the order the CLI lists them. */
export const TIERS: readonly Tier[] = ["ci", "integration", "bench"];

/** One model of the lockfile; field names are those of the JSON. */
export interface LockEntry {
  /** Unique id (`--model`, `resolveModel()`); `^[a-z0-9][a-z0-9._-]{0,63}$`, so never a path. */
  readonly name: string;
  /** Tier. */
  readonly tier: Tier;
  /** Source: https, loopback http, file or generate (see `source.ts`). */
  readonly url: string;
  /** Pinned SHA-256, 64 lowercase hex digits; also the cache key. */
  readonly sha256: string;
  /** Pinned size in bytes. */
  readonly size_bytes: number;
  /** Human description. */
  readonly description: string;
}

/** The lockfile's JSON shape (what {@link Lockfile.toJSON} returns). */
export interface LockfileJson {
  /** Optional editor hint. */
  $schema?: string;
  /** Always "1.0.0". */
  schema_version: "1.0.0";
  /** RFC 3339 UTC time of the last change. */
  updated: string;
  /** The models. */
  models: LockEntry[];
}

/** The schema's validator, precompiled by Ajv (see `_gen_lockfile_validator.ts`: no Ajv import at run time). */
const schemaValidator = schemaValidate as ((doc: unknown) => boolean) & { errors?: ErrorObject[] | null };

function validate(doc: unknown): ErrorObject[] {
  return schemaValidator(doc) ? [] : [...(schemaValidator.errors ?? [])];
}

/** `/models/1/sha256` -> `models[1].sha256`. */
function location(pointer: string): string {
  let out = "";
  for (const part of pointer.split("/").slice(1)) out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part;
  return out || "(top level)";
}

function valueAt(doc: unknown, pointer: string): unknown {
  let v: unknown = doc;
  for (const part of pointer.split("/").slice(1)) v = (v as Record<string, unknown>)?.[part];
  return v;
}

function describe(doc: unknown, e: ErrorObject): string {
  const loc = location(e.instancePath);
  const value = valueAt(doc, e.instancePath);
  const shown = JSON.stringify(value)?.slice(0, 80);
  const field = e.instancePath.split("/").pop();
  switch (e.keyword) {
    case "required":
      return `${loc}: missing field "${e.params.missingProperty}"`;
    case "additionalProperties":
      return `${loc}: unknown field "${e.params.additionalProperty}"`;
    case "const":
      return `${loc} ${shown}: unsupported (this tool reads schema_version "1.0.0")`;
    case "enum":
      return `${loc} ${shown}: unknown tier (known: ${(e.params.allowedValues as string[]).join(", ")})`;
    case "pattern":
      if (field === "sha256") {
        const s = String(value);
        const hint = /^[0-9a-fA-F]{64}$/.test(s) ? "; write it in lowercase" : "";
        return `${loc} ${shown}: not a SHA-256 (need 64 lowercase hex digits, got ${s.length} characters${hint})`;
      }
      if (field === "name") {
        return `${loc} ${shown}: unsafe or invalid name (use 1-64 of a-z 0-9 . _ -, starting with a letter or ` +
          `digit; never a path like "../x")`;
      }
      if (field === "updated") return `${loc} ${shown}: not an RFC 3339 UTC time like "2026-11-26T00:00:00Z"`;
      return `${loc} ${shown}: ${e.message}`;
    case "minItems":
      return `${loc}: the lockfile lists no models`;
    default:
      return `${loc}${shown === undefined ? "" : ` ${shown}`}: ${e.message}`;
  }
}

/** The problem with `models[i].url`, if its source form is not one `source.ts` accepts. */
function sourceProblem(url: string, i: number): string[] {
  try {
    parseSource(url);
    return [];
  } catch (e) {
    return [`models[${i}].url: ${(e as Error).message}`];
  }
}

/** Orders problems by the model they are about (stable otherwise), so each model's problems read together. */
function byModelIndex(a: string, b: string): number {
  const index = (p: string) => Number(/^models\[(\d+)\]/.exec(p)?.[1] ?? -1);
  return index(a) - index(b);
}

/** Checks a schema-valid document cannot fail: duplicates, source forms, size/hash agreement. */
function semanticProblems(models: LockEntry[]): string[] {
  const problems: string[] = [];
  const names = new Map<string, number>();
  const sizeBySha = new Map<string, { size: number; index: number }>();
  models.forEach((m, i) => {
    const first = names.get(m.name);
    if (first !== undefined) problems.push(`models[${i}].name "${m.name}": duplicate of models[${first}].name`);
    else names.set(m.name, i);
    problems.push(...sourceProblem(m.url, i));
    if ((m.sha256 === EMPTY_SHA256) !== (m.size_bytes === 0)) {
      problems.push(
        `models[${i}]: size mismatch: sha256 ${m.sha256 === EMPTY_SHA256 ? "is" : "is not"} the hash of the empty ` +
          `file but size_bytes is ${m.size_bytes}`,
      );
    }
    const seen = sizeBySha.get(m.sha256);
    if (seen && seen.size !== m.size_bytes) {
      problems.push(
        `models[${i}].size_bytes ${m.size_bytes}: size mismatch with models[${seen.index}] (same sha256, ` +
          `size_bytes ${seen.size})`,
      );
    } else if (!seen) sizeBySha.set(m.sha256, { size: m.size_bytes, index: i });
  });
  return problems;
}

/** An immutable, validated lockfile. */
export class Lockfile {
  /** Schema version (always "1.0.0"). */
  readonly schemaVersion: "1.0.0";
  /** RFC 3339 time of the last change. */
  readonly updated: string;
  /** The models, in file order. */
  readonly models: readonly LockEntry[];
  /** Path it was loaded from, or `"<text>"`. */
  readonly source: string;

  private constructor(json: LockfileJson, source: string) {
    this.schemaVersion = json.schema_version;
    this.updated = json.updated;
    this.models = Object.freeze(json.models.map((m) => Object.freeze({ ...m })));
    this.source = source;
  }

  /**
   * Parses and validates lockfile text.
   *
   * @param text JSON text.
   * @param options `source`: a path to name in error messages (default `"<text>"`).
   * @returns The lockfile.
   * @throws {LockfileError} When the JSON is malformed or fails validation; `problems` lists every problem.
   * @example
   * ```ts
   * import { Lockfile } from "./lockfile.ts";
   * const lock = Lockfile.parse(JSON.stringify({
   *   schema_version: "1.0.0", updated: "2026-11-26T00:00:00Z",
   *   models: [{ name: "m", tier: "ci", url: "file:///tmp/m.gguf", sha256: "ab".repeat(32), size_bytes: 1,
   *     description: "example" }],
   * }));
   * console.log(lock.models[0].name); // "m"
   * ```
   */
  static parse(text: string, options: { source?: string } = {}): Lockfile {
    const source = options.source ?? "<text>";
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new LockfileError(source, [`not valid JSON: ${(e as Error).message}`], { cause: e });
    }
    const schemaProblems = validate(doc).map((e) => describe(doc, e));
    if (schemaProblems.length > 0) {
      // Still name every bad source: one round of fixes should be enough.
      const models = (doc as { models?: unknown }).models;
      const sourceProblems = (Array.isArray(models) ? models : []).flatMap((m, i) => {
        const url = (m as { url?: unknown } | null)?.url;
        return typeof url === "string" ? sourceProblem(url, i) : [];
      });
      throw new LockfileError(source, [...schemaProblems, ...sourceProblems].sort(byModelIndex));
    }
    const json = doc as LockfileJson;
    const problems = semanticProblems(json.models);
    if (problems.length > 0) throw new LockfileError(source, problems);
    return new Lockfile(json, source);
  }

  /**
   * Reads and validates a lockfile.
   *
   * @param path File path or `file:` URL; an `https:` URL (the default lockfile of a package imported from `jsr:`)
   *   is fetched.
   * @returns The lockfile.
   * @throws {LockfileError} When it is invalid.
   * @throws {Deno.errors.NotFound} When the file does not exist (message names the path and the fix).
   * @example
   * ```ts
   * import { defaultLockfilePath, Lockfile } from "./lockfile.ts";
   * const lock = await Lockfile.load(defaultLockfilePath());
   * console.log(lock.models.map((m) => m.name));
   * ```
   */
  static async load(path: string | URL): Promise<Lockfile> {
    if (/^https?:\/\//.test(String(path))) {
      const res = await fetch(path);
      if (!res.ok) {
        await res.body?.cancel();
        throw new Deno.errors.NotFound(
          `Cannot read the lockfile ${path}: HTTP ${res.status}. Fix: pass --lockfile <path> or set BITNET_LOCKFILE.`,
        );
      }
      return Lockfile.parse(await res.text(), { source: String(path) });
    }
    const p = path instanceof URL ? decodeURIComponent(path.pathname) : path;
    let text: string;
    try {
      text = await Deno.readTextFile(p);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(
          `Cannot read the lockfile ${p}: no such file. Fix: pass --lockfile <path> or set BITNET_LOCKFILE.`,
          { cause: e },
        );
      }
      throw e;
    }
    return Lockfile.parse(text, { source: p });
  }

  /**
   * Looks up a model by name.
   *
   * @param name Lockfile model name.
   * @returns The entry, or `undefined`.
   * @example
   * ```ts
   * import { defaultLockfilePath, Lockfile } from "./lockfile.ts";
   * console.log((await Lockfile.load(defaultLockfilePath())).entry("ci-tiny")?.tier); // "ci"
   * ```
   */
  entry(name: string): LockEntry | undefined {
    return this.models.find((m) => m.name === name);
  }

  /**
   * The models a `fetch` selects: all, one tier, or one name (both filters must match when both are given).
   *
   * @param filter `tier` and/or `model`.
   * @returns The selected entries, in file order (never empty).
   * @throws {RangeError} When the name is unknown, the tier is unknown, or nothing matches; the message lists
   *   what exists.
   * @example
   * ```ts
   * import { defaultLockfilePath, Lockfile } from "./lockfile.ts";
   * const lock = await Lockfile.load(defaultLockfilePath());
   * console.log(lock.select({ tier: "ci" }).length);
   * ```
   */
  select(filter: { tier?: string; model?: string } = {}): LockEntry[] {
    if (filter.tier !== undefined && !TIERS.includes(filter.tier as Tier)) {
      throw new RangeError(`Unknown tier "${filter.tier}": the tiers are ${TIERS.join(", ")}. Pass one of them.`);
    }
    if (filter.model !== undefined && !this.entry(filter.model)) {
      throw new RangeError(
        `Unknown model "${filter.model}": ${this.source} lists ${this.models.map((m) => m.name).join(", ")}. ` +
          `Pass one of those names, or add the model to the lockfile.`,
      );
    }
    const picked = this.models.filter((m) =>
      (filter.tier === undefined || m.tier === filter.tier) && (filter.model === undefined || m.name === filter.model)
    );
    if (picked.length === 0) {
      throw new RangeError(
        `No model matches ${filter.tier ? `tier "${filter.tier}"` : ""}${filter.tier && filter.model ? " and " : ""}${
          filter.model ? `name "${filter.model}"` : ""
        } in ${this.source}. Add such a model to the lockfile, or select another tier.`,
      );
    }
    return picked;
  }

  /**
   * The parsed source of an entry.
   *
   * @param entry An entry of this lockfile.
   * @returns Its {@link Source} (already validated at parse time).
   * @example
   * ```ts
   * import { defaultLockfilePath, Lockfile } from "./lockfile.ts";
   * const lock = await Lockfile.load(defaultLockfilePath());
   * console.log(Lockfile.sourceOf(lock.models[0]).kind);
   * ```
   */
  static sourceOf(entry: LockEntry): Source {
    return parseSource(entry.url);
  }

  /**
   * The JSON document (without `$schema`).
   *
   * @returns A fresh plain object.
   */
  toJSON(): LockfileJson {
    return { schema_version: this.schemaVersion, updated: this.updated, models: this.models.map((m) => ({ ...m })) };
  }
}

/** File name of the lockfile in a project directory. */
export const LOCKFILE_NAME = "crossval-models.lock.json";

/**
 * The lockfile used when none is given (`--lockfile` wins over all of these), the first of:
 * 1. `BITNET_LOCKFILE` (set on purpose, so it beats a file that merely happens to be there);
 * 2. `crossval-models.lock.json` in the working directory: the user's own project, when the CLI runs from a
 *    package (`jsr:`), a compiled binary or another checkout;
 * 3. the one shipped with this package: the repository root of a checkout, the copy embedded in a compiled binary,
 *    or its `https:` URL when imported from `jsr:`.
 *
 * @returns A path, or an `https:` URL string for a remote package ({@link Lockfile.load} reads both).
 * @example
 * ```ts
 * import { defaultLockfilePath } from "./lockfile.ts";
 * console.log(defaultLockfilePath().endsWith(".json")); // true
 * ```
 */
export function defaultLockfilePath(): string {
  const env = Deno.env.get("BITNET_LOCKFILE");
  if (env) return env;
  try {
    const local = `${Deno.cwd()}/${LOCKFILE_NAME}`;
    if (Deno.statSync(local).isFile) return local;
  } catch {
    // no lockfile in the working directory (or no permission to look): use the packaged one
  }
  const packaged = new URL(`../${LOCKFILE_NAME}`, import.meta.url);
  return packaged.protocol === "file:" ? decodeURIComponent(packaged.pathname) : packaged.href;
}
