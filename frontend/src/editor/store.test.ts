import { describe, expect, it } from "vitest";
import { autoLayout, checkConnection, diffHighlights, indexIssues, templateVariables } from "./graph";
import { createEditorStore } from "./store";
import type { FlowDiff, NodeCatalog } from "./types";

const port = (type: string, required = true) => ({ type, required, description: "" });

const catalog: NodeCatalog = {
  tools: [],
  port_compatibility: {
    text: ["text", "json", "messages", "any"],
    messages: ["messages", "text", "any"],
    documents: ["documents", "text", "any"],
    json: ["json", "text", "any"],
    any: ["any", "text", "json"],
  },
  node_types: [
    {
      type: "source",
      version: 1,
      title: "Source",
      description: "",
      category: "input",
      icon: "box",
      config_schema: { properties: { size: { type: "integer", default: 3 } } },
      inputs: {},
      outputs: { text: port("text") },
      dynamic_inputs: false,
      dynamic_outputs: false,
      entry: true,
      terminal: false,
    },
    {
      type: "sink",
      version: 1,
      title: "Sink",
      description: "",
      category: "output",
      icon: "flag",
      config_schema: { properties: {} },
      inputs: { value: port("any"), docs: port("documents", false) },
      outputs: { out: port("text") },
      dynamic_inputs: false,
      dynamic_outputs: false,
      entry: false,
      terminal: true,
    },
  ],
};

function storeWithTwoNodes() {
  const store = createEditorStore();
  store.getState().setCatalog(catalog);
  store.getState().load(
    {
      nodes: [
        { id: "a", type: "source", version: 1, position: { x: 0, y: 0 }, config: {} },
        { id: "b", type: "sink", version: 1, position: { x: 300, y: 0 }, config: {} },
      ],
      edges: [],
    },
    1,
    [],
  );
  return store;
}

describe("connection rules", () => {
  it("connects compatible ports and refuses incompatible ones with a reason", () => {
    const store = storeWithTwoNodes();
    expect(store.getState().connect({ source: "a", sourceHandle: "text", target: "b", targetHandle: "docs" })).toBe(false);
    expect(store.getState().refusal?.message).toMatch(/“a” \(Source\)'s “text” gives text, but “b” \(Sink\)'s “docs” needs documents/);
    expect(store.getState().connect({ source: "a", sourceHandle: "text", target: "b", targetHandle: "value" })).toBe(true);
    expect(store.getState().edges).toHaveLength(1);
    expect(store.getState().saveState).toBe("dirty");
  });

  it("refuses self loops, unknown ports and duplicates", () => {
    const store = storeWithTwoNodes();
    const { edges, portsOf, compatibility } = store.getState();
    expect(checkConnection({ source: "b", sourceHandle: "out", target: "b", targetHandle: "value" }, edges, portsOf, compatibility)).toEqual({
      ok: false,
      reason: "A node cannot feed itself: connect it to another node.",
    });
    const missing = checkConnection({ source: "a", sourceHandle: "nope", target: "b", targetHandle: "value" }, edges, portsOf, compatibility);
    expect(missing.ok).toBe(false);
    store.getState().connect({ source: "a", sourceHandle: "text", target: "b", targetHandle: "value" });
    expect(store.getState().connect({ source: "a", sourceHandle: "text", target: "b", targetHandle: "value" })).toBe(false);
    expect(store.getState().refusal?.message).toMatch(/already connected/);
  });

  it("uses server-resolved ports for dynamic node types", () => {
    const store = storeWithTwoNodes();
    store.getState().setPorts({ b: { inputs: { extra: port("text") }, outputs: {} } });
    expect(store.getState().connect({ source: "a", sourceHandle: "text", target: "b", targetHandle: "value" })).toBe(false);
    expect(store.getState().connect({ source: "a", sourceHandle: "text", target: "b", targetHandle: "extra" })).toBe(true);
  });
});

describe("undo and redo", () => {
  it("undoes and redoes adds, connections, config edits and deletes", () => {
    const store = storeWithTwoNodes();
    const id = store.getState().addNode("source", 1, { x: 10, y: 10 });
    expect(id).toBe("source");
    expect(store.getState().nodes.find((n) => n.id === id)?.data.config).toEqual({ size: 3 });
    store.getState().connect({ source: "a", sourceHandle: "text", target: "b", targetHandle: "value" });
    store.getState().select("a");
    store.getState().deleteSelection();
    expect(store.getState().nodes.map((n) => n.id)).toEqual(["b", "source"]);
    expect(store.getState().edges).toHaveLength(0);
    store.getState().undo();
    expect(store.getState().nodes.map((n) => n.id)).toEqual(["a", "b", "source"]);
    expect(store.getState().edges).toHaveLength(1);
    store.getState().undo();
    expect(store.getState().edges).toHaveLength(0);
    store.getState().redo();
    expect(store.getState().edges).toHaveLength(1);
    store.getState().undo();
    store.getState().undo();
    expect(store.getState().nodes.map((n) => n.id)).toEqual(["a", "b"]);
    expect(store.getState().future).toHaveLength(3);
  });

  it("coalesces a burst of config edits into one undo step", () => {
    const store = storeWithTwoNodes();
    for (const size of [4, 5, 6]) store.getState().updateConfig("a", { size });
    expect(store.getState().nodes[0]?.data.config).toEqual({ size: 6 });
    store.getState().undo();
    expect(store.getState().nodes[0]?.data.config).toEqual({});
  });

  it("pastes copies with fresh ids and their inner edges", () => {
    const store = storeWithTwoNodes();
    store.getState().connect({ source: "a", sourceHandle: "text", target: "b", targetHandle: "value" });
    store.setState((s) => ({ nodes: s.nodes.map((n) => ({ ...n, selected: true })) }));
    store.getState().copySelection();
    store.getState().paste();
    const ids = store.getState().nodes.map((n) => n.id);
    expect(ids).toEqual(["a", "b", "a_2", "b_2"]);
    const pasted = store.getState().edges[1];
    expect([pasted?.source, pasted?.target]).toEqual(["a_2", "b_2"]);
  });

  it("changes nothing when read only", () => {
    const store = storeWithTwoNodes();
    store.getState().setReadOnly(true);
    expect(store.getState().addNode("source", 1, { x: 0, y: 0 })).toBeNull();
    expect(store.getState().connect({ source: "a", sourceHandle: "text", target: "b", targetHandle: "value" })).toBe(false);
    expect(store.getState().changeCount).toBe(0);
  });
});

describe("issues, diffs, layout", () => {
  it("maps issues to nodes and edges by id or JSON pointer", () => {
    const spec = {
      nodes: [{ id: "a", type: "source" }, { id: "b", type: "sink" }],
      edges: [{ id: "e1", source: "a", source_port: "x", target: "b", target_port: "y" }],
    };
    const index = indexIssues(
      [
        { code: "graph.cycle", message: "", pointer: "/nodes/1", node: "b", edge: null },
        { code: "edge.unknown_source", message: "", pointer: "/edges/0/source", node: null, edge: null },
        { code: "node.invalid_config", message: "", pointer: "/nodes/0/config/size", node: null, edge: null },
        { code: "flow.no_output", message: "", pointer: "/nodes", node: null, edge: null },
      ],
      spec,
    );
    expect(Object.keys(index.nodes)).toEqual(["b", "a"]);
    expect(Object.keys(index.edges)).toEqual(["e1"]);
    expect(index.general.map((i) => i.code)).toEqual(["flow.no_output"]);
  });

  it("turns the server's diff into canvas highlights and readable lines", () => {
    const diff: FlowDiff = {
      from: "1",
      to: "2",
      identical: false,
      nodes: {
        added: [{ id: "n", type: "llm", version: 1, label: null }],
        removed: [],
        changed: [{ id: "p", type: "prompt", fields: ["config"], config_keys: ["template"], before: {}, after: {} }],
        moved: [{ id: "m", before: { x: 0, y: 0 }, after: { x: 1, y: 1 } }],
      },
      edges: { added: [], removed: [{ id: "e", source: "a", source_port: "x", target: "b", target_port: "y" }] },
    };
    const highlights = diffHighlights(diff);
    expect(highlights.nodes).toEqual({ n: "added", p: "changed", m: "moved" });
    expect(highlights.edges).toEqual({ e: "removed" });
    expect(highlights.lines.find((l) => l.kind === "changed")?.what).toContain("template");
  });

  it("lays nodes out in columns by longest path", () => {
    const positions = autoLayout(
      [{ id: "a" }, { id: "b" }, { id: "c" }],
      [
        { source: "a", target: "b" },
        { source: "b", target: "c" },
        { source: "a", target: "c" },
      ],
    );
    expect([positions.a?.x, positions.b?.x, positions.c?.x]).toEqual([0, 300, 600]);
  });

  it("finds template variables like the engine does", () => {
    expect(templateVariables("{{ q }} and {{order.id}} and {{q}}")).toEqual(["q", "order"]);
  });
});
