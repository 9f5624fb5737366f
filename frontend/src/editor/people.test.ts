/** The editor's words and views for people: connection refusals, diff values, what a flow uses. */
import { describe, expect, it } from "vitest";
import { checkConnection, convertersBetween, diffHighlights, nodeName, type CanvasNode } from "./graph";
import { flowInventory } from "./inventory";
import { createEditorStore } from "./store";
import type { FlowDiff, NodeCatalog, NodeType } from "./types";
import { COMPACT_ZOOM, FIT_VIEW, MIN_FIT_ZOOM } from "./viewport";

const port = (type: string, required = true) => ({ type, required, description: "" });
const compatibility = {
  text: ["text", "json", "messages", "any"],
  messages: ["messages", "text", "any"],
  documents: ["documents", "text", "any"],
  json: ["json", "text", "any"],
  any: ["any", "text", "json"],
};

function nodeType(type: string, title: string, extra: Partial<NodeType> = {}): NodeType {
  return {
    type,
    version: 1,
    title,
    description: "",
    category: "logic",
    icon: "box",
    config_schema: { properties: {} },
    inputs: {},
    outputs: {},
    dynamic_inputs: false,
    dynamic_outputs: false,
    entry: false,
    terminal: false,
    ...extra,
  };
}

const catalog: NodeCatalog = {
  tools: ["calculator"],
  port_compatibility: compatibility,
  node_types: [
    nodeType("chat_input", "Chat input", { outputs: { message: port("text") }, entry: true }),
    nodeType("llm", "LLM", {
      inputs: { prompt: port("messages"), context: port("documents", false) },
      outputs: { text: port("text") },
      config_schema: {
        properties: { model: { type: "string", format: "model-alias" }, tools: { type: "array", items: { type: "string" } } },
      },
    }),
    nodeType("retrieve", "Retrieve", { inputs: { query: port("text") }, outputs: { documents: port("documents") } }),
    nodeType("merge", "Merge", { inputs: { a: port("any") }, outputs: { value: port("any") } }),
    nodeType("tool", "Tool call", {
      inputs: { input: port("text") },
      outputs: { result: port("text") },
      config_schema: { properties: { tool: { type: "string", format: "tool-name" } } },
    }),
    nodeType("agent", "Agent", {
      config_schema: {
        properties: { tools: { anyOf: [{ type: "array", items: { type: "string", format: "tool-name" } }, { type: "null" }] } },
      },
    }),
  ],
};

function loaded() {
  const store = createEditorStore();
  store.getState().setCatalog(catalog);
  store.getState().load(
    {
      nodes: [
        { id: "in", type: "chat_input", version: 1, label: "Question", position: { x: 0, y: 0 }, config: {} },
        { id: "llm", type: "llm", version: 1, label: "Answer", position: { x: 300, y: 0 }, config: { model: "local" } },
      ],
      edges: [],
    },
    1,
    [],
  );
  return store;
}

describe("connection refusals for people", () => {
  it("names both nodes by label and type and says what to put between them", () => {
    const store = loaded();
    expect(store.getState().connect({ source: "in", sourceHandle: "message", target: "llm", targetHandle: "context" })).toBe(false);
    expect(store.getState().refusal?.message).toBe(
      "“Question” (Chat input)'s “message” gives text, but “Answer” (LLM)'s “context” needs documents: put a Retrieve node between them.",
    );
  });

  it("suggests only nodes with a typed input and output in between, never a pass-through", () => {
    const types = loaded().getState().types;
    expect(convertersBetween(types, compatibility, "text", "documents")).toEqual(["Retrieve"]);
    expect(convertersBetween(types, compatibility, "documents", "messages")).toEqual([]);
  });

  it("falls back to saying what output would fit", () => {
    const store = loaded();
    store.getState().addNode("retrieve", 1, { x: 0, y: 200 });
    expect(store.getState().connect({ source: "retrieve", sourceHandle: "documents", target: "llm", targetHandle: "prompt" })).toBe(false);
    expect(store.getState().refusal?.message).toBe(
      "“retrieve” (Retrieve)'s “documents” gives documents, but “Answer” (LLM)'s “prompt” needs messages: connect an output that gives messages.",
    );
    const { edges, portsOf } = store.getState();
    const self = checkConnection({ source: "llm", sourceHandle: "text", target: "llm", targetHandle: "context" }, edges, portsOf, compatibility);
    expect(self).toEqual({ ok: false, reason: "A node cannot feed itself: connect it to another node." });
  });

  it("names a node by its id when it has no label", () => {
    const types = loaded().getState().types;
    const node = { id: "llm_2", data: { type: "llm", version: 1, label: null, config: {} } } as Pick<CanvasNode, "id" | "data">;
    expect(nodeName(node, types)).toBe("“llm_2” (LLM)");
    expect(nodeName(undefined, types, "gone")).toBe("“gone”");
  });
});

describe("diff values", () => {
  it("gives each changed field its old and new value, labels nodes and marks unset values", () => {
    const diff: FlowDiff = {
      from: "1",
      to: "2",
      identical: false,
      nodes: {
        added: [],
        removed: [],
        changed: [
          {
            id: "p",
            type: "prompt",
            fields: ["config", "label"],
            config_keys: ["max_tokens", "template", "temperature"],
            before: { label: null, config: { template: "Hi {{q}}", max_tokens: 64 } },
            after: { label: "Greeter", config: { template: "Hello {{q}}", temperature: 0.2 } },
          },
        ],
        moved: [],
      },
      edges: { added: [{ id: "e", source: "in", source_port: "message", target: "p", target_port: "q" }], removed: [] },
    };
    const [line, edge] = diffHighlights(diff, (id) => (id === "p" ? "Greeter" : null)).lines;
    expect(edge).toEqual({ kind: "added", what: "Connection “in” message → “Greeter” q" });
    expect(line?.what).toBe("Node “Greeter” (p) config, label: max_tokens, template, temperature");
    expect(line?.changes).toEqual([
      { field: "label", before: null, after: "Greeter" },
      { field: "max_tokens", before: "64", after: null },
      { field: "template", before: "Hi {{q}}", after: "Hello {{q}}" },
      { field: "temperature", before: null, after: "0.2" },
    ]);
  });
});

describe("what a flow uses", () => {
  it("lists variables, secrets and tools with the nodes that use them, from the config schema's formats", () => {
    const store = loaded();
    const types = store.getState().types;
    const nodes = [
      { id: "h", data: { type: "tool", version: 1, label: null, config: { tool: "calculator", note: "{{ vars.REGION }}" } } },
      {
        id: "a",
        data: {
          type: "agent",
          version: 1,
          label: null,
          config: { tools: ["crm.lookup", "calculator"], headers: { Authorization: "Bearer {{secrets.CRM_TOKEN}}" } },
        },
      },
      {
        id: "p",
        data: { type: "llm", version: 1, label: null, config: { model: "local", system: "{{vars.REGION}} {{secrets.CRM_TOKEN}}", tools: ["clock"] } },
      },
    ] as Pick<CanvasNode, "id" | "data">[];
    expect(flowInventory(nodes, types)).toEqual({
      variables: [{ name: "REGION", nodes: ["h", "p"] }],
      secrets: [{ name: "CRM_TOKEN", nodes: ["a", "p"] }],
      tools: [
        { name: "calculator", nodes: ["h", "a"] },
        { name: "clock", nodes: ["p"] },
        { name: "crm.lookup", nodes: ["a"] },
      ],
    });
    expect(flowInventory([], types)).toEqual({ variables: [], secrets: [], tools: [] });
  });
});

describe("framing", () => {
  it("never fits below the zoom where the compact view keeps titles readable", () => {
    expect(FIT_VIEW.minZoom).toBe(MIN_FIT_ZOOM);
    expect(MIN_FIT_ZOOM).toBeLessThan(COMPACT_ZOOM);
    // The compact title is 24 px: at the smallest fit it still renders at 12 px.
    expect(24 * MIN_FIT_ZOOM).toBeGreaterThanOrEqual(12);
  });
});
