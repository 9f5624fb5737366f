/** The structured-output node's JSON Schema as a list of fields, and back (no React). */

export type FieldKind = "string" | "number" | "integer" | "boolean" | "array" | "object";

export interface SchemaField {
  name: string;
  kind: FieldKind;
  description: string;
  /** string fields: the allowed values, comma-separated in the form ("" = any). */
  choices: string;
  required: boolean;
}

export const FIELD_KINDS: FieldKind[] = ["string", "number", "integer", "boolean", "array", "object"];
export const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,40}$/;

type Json = Record<string, unknown>;

/** The fields a schema describes (unknown shapes become plain strings). */
export function schemaToFields(schema: unknown): SchemaField[] {
  const root = (schema ?? {}) as Json;
  const properties = (root.properties ?? {}) as Record<string, Json>;
  const required = Array.isArray(root.required) ? (root.required as string[]) : [];
  return Object.entries(properties).map(([name, prop]) => ({
    name,
    kind: FIELD_KINDS.includes(prop.type as FieldKind) ? (prop.type as FieldKind) : "string",
    description: typeof prop.description === "string" ? prop.description : "",
    choices: Array.isArray(prop.enum) ? prop.enum.map(String).join(", ") : "",
    required: required.includes(name),
  }));
}

export function fieldsToSchema(fields: SchemaField[]): Json {
  const properties: Record<string, Json> = {};
  for (const field of fields) {
    const prop: Json = { type: field.kind };
    if (field.description.trim()) prop.description = field.description.trim();
    const choices = field.choices
      .split(",")
      .map((c) => c.trim())
      .filter(Boolean);
    if (field.kind === "string" && choices.length) prop.enum = choices;
    if (field.kind === "array") prop.items = { type: "string" };
    properties[field.name] = prop;
  }
  return { type: "object", properties, required: fields.filter((f) => f.required).map((f) => f.name) };
}

/** What is wrong with the field list, in words; [] when fine. */
export function fieldProblems(fields: SchemaField[]): string[] {
  const problems: string[] = [];
  if (!fields.length) problems.push("Add at least one field.");
  const seen = new Set<string>();
  for (const field of fields) {
    if (!FIELD_NAME.test(field.name)) problems.push(`“${field.name}”: use letters, digits and _ (not starting with a digit).`);
    else if (field.name === "data") problems.push("“data” is taken by the whole object: pick another name.");
    if (seen.has(field.name)) problems.push(`Two fields are named “${field.name}”.`);
    seen.add(field.name);
  }
  return problems;
}
