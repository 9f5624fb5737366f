import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { fakeBackend, ORG_A, renderRoutes } from "../test/utils";
import type { JsonSchema } from "./schema";
import { SchemaForm } from "./SchemaForm";

const CALLABLE = `GET /api/v1/orgs/${ORG_A}/flows/callable/`;
const LOOKUP = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";

/** The sub-flow and structured-output nodes' config schemas as the catalog serves them (trimmed). */
const subflowSchema: JsonSchema = {
  type: "object",
  properties: {
    flow: { type: "string", format: "flow-ref", title: "Flow" },
    outputs: { type: "array", items: { $ref: "#/$defs/SubflowOutput" }, title: "Outputs" },
  },
  required: ["flow"],
  $defs: {
    SubflowOutput: {
      type: "object",
      properties: { name: { type: "string", title: "Name" }, format: { type: "string", enum: ["text", "json"], default: "text" } },
      required: ["name"],
    },
  },
};
const extractSchema: JsonSchema = {
  type: "object",
  properties: { json_schema: { type: "object", format: "json-schema", title: "Json Schema" } },
};

function renderForm(schema: JsonSchema, initial: Record<string, unknown> = {}) {
  const changes = vi.fn();
  function Harness() {
    const [value, setValue] = useState(initial);
    return (
      <SchemaForm
        schema={schema}
        value={value}
        onChange={(next) => {
          changes(next);
          setValue(next);
        }}
        serverErrors={{}}
        context={{ models: [], tools: [], orgId: ORG_A, upstream: [], readOnly: false }}
      />
    );
  }
  renderRoutes([{ path: "/", element: <Harness /> }], "/");
  return changes;
}

describe("issue 20 node forms", () => {
  it("picking a published flow fills the sub-flow's outputs from its output nodes", async () => {
    fakeBackend({
      [CALLABLE]: {
        status: 200,
        body: [
          {
            id: LOOKUP,
            name: "Order lookup",
            description: "",
            version: 3,
            inputs: [{ name: "message", type: "text" }],
            outputs: [{ name: "status", format: "json" }, { name: "summary", format: "text" }],
          },
        ],
      },
    });
    const changes = renderForm(subflowSchema);
    await screen.findByRole("option", { name: "Order lookup (v3)" });
    await userEvent.selectOptions(screen.getByTestId("flow-picker"), LOOKUP);
    expect(changes).toHaveBeenLastCalledWith({
      flow: LOOKUP,
      outputs: [
        { name: "status", format: "json" },
        { name: "summary", format: "text" },
      ],
    });
    expect(screen.getByText("Takes its chat message; gives status (json), summary (text).")).toBeInTheDocument();
  });

  it("says so when no flow is published", async () => {
    fakeBackend({ [CALLABLE]: { status: 200, body: [] } });
    renderForm(subflowSchema);
    expect(await screen.findByRole("option", { name: "No published flows yet: publish a flow to call it from here" })).toBeInTheDocument();
  });

  it("builds the structured output's JSON Schema field by field", async () => {
    const changes = renderForm(extractSchema, { json_schema: { type: "object", properties: {}, required: [] } });
    expect(screen.getByText(/No fields yet/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Add field" }));
    const name = screen.getByLabelText("Field 1 name");
    await userEvent.clear(name);
    await userEvent.type(name, "intent");
    await userEvent.type(screen.getByLabelText("Field 1 allowed values"), "refund, question");
    expect(changes).toHaveBeenLastCalledWith({
      json_schema: { type: "object", properties: { intent: { type: "string", enum: ["refund", "question"] } }, required: ["intent"] },
    });
    await userEvent.clear(name);
    await userEvent.type(name, "data");
    expect(screen.getByText("“data” is taken by the whole object: pick another name.")).toBeInTheDocument();
  });
});

/** The LLM node's cache fields as the catalog serves them (pydantic's schema, trimmed). */
const llmCacheSchema: JsonSchema = {
  type: "object",
  properties: {
    cache: { type: "string", enum: ["inherit", "off", "exact", "semantic"], default: "inherit", title: "Response cache" },
    cache_ttl_s: { anyOf: [{ type: "integer", minimum: 1, maximum: 2592000 }, { type: "null" }], default: null, title: "Cache TTL (seconds)" },
    cache_threshold: { anyOf: [{ type: "number", minimum: 0.5, maximum: 1 }, { type: "null" }], default: null, title: "Cache similarity threshold" },
    cache_any_temperature: { type: "boolean", default: false, title: "Cache at any temperature" },
  },
};

describe("the LLM node's response cache fields", () => {
  it("offers the modes without an empty choice, checks the threshold and writes the node's config", async () => {
    const user = userEvent.setup();
    const changes = renderForm(llmCacheSchema);
    const mode = await screen.findByLabelText("Response cache");
    expect(mode).toHaveValue("inherit");
    expect([...(mode as HTMLSelectElement).options].map((o) => o.value)).toEqual(["inherit", "off", "exact", "semantic"]);
    await user.selectOptions(mode, "semantic");
    await user.type(screen.getByLabelText("Cache similarity threshold"), "0.3");
    expect(screen.getByText("At least 0.5.")).toBeInTheDocument();
    await user.clear(screen.getByLabelText("Cache similarity threshold"));
    await user.type(screen.getByLabelText("Cache similarity threshold"), "0.9");
    await user.click(screen.getByLabelText("Cache at any temperature"));
    expect(changes).toHaveBeenLastCalledWith({ cache: "semantic", cache_threshold: 0.9, cache_any_temperature: true });
  });
});
