/**
 * JSON Schema (2020-12) validation of receipts with Ajv, compiled once per schema and reported as
 * {@link ReceiptProblem}s.
 *
 * @module
 */

import { Ajv2020 } from "ajv/dist/2020.js";
import type { ReceiptProblem } from "./problem.ts";

/** A compiled schema check. */
export type SchemaCheck = (value: unknown) => ReceiptProblem[];

/**
 * Compile a JSON Schema into a check.
 *
 * @param schema A 2020-12 schema object.
 * @returns A function listing every schema violation (all errors, not only the first).
 * @throws {Error} When the schema itself is invalid (Ajv strict mode).
 * @example
 * ```ts
 * import { compileSchemaCheck } from "./schema_check.ts";
 * const check = compileSchemaCheck({ type: "object", properties: { a: { type: "number" } }, required: ["a"] });
 * console.log(check({}).map((p) => p.message)); // ["must have required property 'a'"]
 * ```
 */
export function compileSchemaCheck(schema: Record<string, unknown>): SchemaCheck {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  const validate = ajv.compile(schema);
  return (value: unknown) => {
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e) => ({
      path: e.instancePath,
      code: "schema",
      message:
        `${e.message ?? "invalid"}${
          e.params && "allowedValues" in e.params ? ` (${JSON.stringify(e.params.allowedValues)})` : ""
        }` +
        ` [schema ${e.schemaPath}]`,
    }));
  };
}
