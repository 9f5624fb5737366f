/** JSON Schema helpers for config forms (no React): resolve refs/nullables, check a value. */

export interface JsonSchema {
  type?: string;
  title?: string;
  description?: string;
  format?: string;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: boolean | JsonSchema;
  anyOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  nullable?: boolean;
}

/** `$ref` into `$defs` inlined, `anyOf [X, null]` as X with `nullable`. */
export function resolveSchema(schema: JsonSchema, defs: Record<string, JsonSchema> = {}): JsonSchema {
  let current = schema;
  if (current.$ref) {
    const name = current.$ref.split("/").pop() ?? "";
    current = { ...(defs[name] ?? {}), ...omit(current, "$ref") };
  }
  if (current.anyOf) {
    const nonNull = current.anyOf.filter((s) => s.type !== "null");
    if (nonNull.length === 1 && nonNull[0]) {
      return { ...resolveSchema(nonNull[0], defs), ...omit(current, "anyOf"), nullable: true };
    }
  }
  return current;
}

function omit<T extends object>(value: T, key: keyof T): T {
  const copy = { ...value };
  delete copy[key];
  return copy;
}

export function fieldLabel(name: string, schema: JsonSchema): string {
  return schema.title ?? name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

/** What is wrong with a value, in words; [] when fine. */
export function checkValue(schema: JsonSchema, value: unknown, required: boolean): string[] {
  const empty = value === undefined || value === null || value === "";
  if (empty) return required && !schema.nullable ? ["Required."] : [];
  const errors: string[] = [];
  if (schema.enum && !schema.enum.includes(value)) errors.push(`One of ${schema.enum.join(", ")}.`);
  if (schema.type === "string" && typeof value === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`At least ${schema.minLength} characters.`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) errors.push(`At most ${schema.maxLength} characters.`);
    if (schema.pattern) {
      try {
        if (!new RegExp(schema.pattern, "u").test(value)) errors.push(`Must match ${schema.pattern}.`);
      } catch {
        // A pattern this browser cannot compile: the server still checks it.
      }
    }
  }
  if (schema.type === "integer" || schema.type === "number") {
    if (typeof value !== "number" || Number.isNaN(value)) return ["A number."];
    if (schema.type === "integer" && !Number.isInteger(value)) errors.push("A whole number.");
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`At least ${schema.minimum}.`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`At most ${schema.maximum}.`);
  }
  if (schema.type === "array" && Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`At least ${schema.minItems} item(s).`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`At most ${schema.maxItems} items.`);
  }
  return errors;
}
