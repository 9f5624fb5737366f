import { describe, expect, it } from "vitest";
import { fieldProblems, fieldsToSchema, schemaToFields } from "./schemaBuilder";

describe("schema builder", () => {
  it("round-trips the fields of a structured-output schema", () => {
    const schema = {
      type: "object",
      properties: {
        intent: { type: "string", enum: ["refund", "question"], description: "What they want" },
        amount: { type: "number" },
      },
      required: ["intent"],
    };
    const fields = schemaToFields(schema);
    expect(fields.map((f) => [f.name, f.kind, f.choices, f.required])).toEqual([
      ["intent", "string", "refund, question", true],
      ["amount", "number", "", false],
    ]);
    expect(fieldsToSchema(fields)).toEqual(schema);
  });

  it("names what is wrong with the fields", () => {
    const base = { kind: "string" as const, description: "", choices: "", required: true };
    expect(fieldProblems([])).toEqual(["Add at least one field."]);
    expect(fieldProblems([{ ...base, name: "2x" }, { ...base, name: "data" }, { ...base, name: "a" }, { ...base, name: "a" }])).toEqual([
      "“2x”: use letters, digits and _ (not starting with a digit).",
      "“data” is taken by the whole object: pick another name.",
      "Two fields are named “a”.",
    ]);
  });
});
