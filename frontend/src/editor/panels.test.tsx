/** The palette as a drawer and the Uses tab, rendered against a real editor store. */
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { EditorStoreContext } from "./context";
import { FlowPanel } from "./FlowPanel";
import { Palette } from "./Palette";
import { createEditorStore } from "./store";
import type { NodeCatalog, NodeType } from "./types";

function nodeType(type: string, title: string, config_schema: Record<string, unknown> = { properties: {} }): NodeType {
  return {
    type,
    version: 1,
    title,
    description: `${title} node`,
    category: "logic",
    icon: "box",
    config_schema,
    inputs: {},
    outputs: {},
    dynamic_inputs: false,
    dynamic_outputs: false,
    entry: false,
    terminal: false,
  };
}

const catalog: NodeCatalog = {
  tools: ["calculator"],
  port_compatibility: {},
  node_types: [
    nodeType("chat_input", "Chat input"),
    nodeType("agent", "Agent", { properties: { tools: { type: "array", items: { type: "string" } }, system_prompt: { type: "string" } } }),
  ],
};

function editorStore() {
  const store = createEditorStore();
  store.getState().setCatalog(catalog);
  store.getState().load(
    {
      nodes: [
        {
          id: "agent",
          type: "agent",
          version: 1,
          label: "Helper",
          position: { x: 0, y: 0 },
          config: { tools: ["orders__calculate", "gone_tool", "calculator"], system_prompt: "Key {{secrets.CRM_TOKEN}}" },
        },
      ],
      edges: [],
    },
    1,
    [],
  );
  return store;
}

describe("the palette as a drawer", () => {
  it("focuses its search, adds a clicked node and closes with Escape", async () => {
    const user = userEvent.setup();
    const onAdd = vi.fn();
    const onClose = vi.fn();
    render(
      <EditorStoreContext.Provider value={editorStore()}>
        <Palette onAdd={onAdd} onClose={onClose} />
      </EditorStoreContext.Provider>,
    );
    expect(screen.getByRole("searchbox", { name: "Search nodes" })).toHaveFocus();
    expect(screen.getByText("Add a node")).toBeInTheDocument();
    await user.click(screen.getByTestId("palette-agent"));
    expect(onAdd).toHaveBeenCalledWith(expect.objectContaining({ type: "agent" }));
    await user.keyboard("{Escape}");
    expect(onClose).toHaveBeenCalled();
  });

  it("is a plain side palette without onClose", () => {
    render(
      <EditorStoreContext.Provider value={editorStore()}>
        <Palette onAdd={vi.fn()} />
      </EditorStoreContext.Provider>,
    );
    expect(screen.queryByText("Add a node")).not.toBeInTheDocument();
    expect(screen.getByTestId("palette")).not.toHaveClass("palette--drawer");
  });
});

describe("the Uses tab", () => {
  it("lists tools with their kind, flags a tool the organization lacks, and focuses a node on click", async () => {
    const user = userEvent.setup();
    const store = editorStore();
    render(
      <EditorStoreContext.Provider value={store}>
        <FlowPanel toolKinds={{ calculator: "builtin", orders__calculate: "mcp" }} />
      </EditorStoreContext.Provider>,
    );
    expect(screen.getByTestId("uses-tools-orders__calculate")).toHaveTextContent("MCP");
    expect(screen.getByTestId("uses-tools-calculator")).toHaveTextContent("built-in");
    expect(screen.getByTestId("uses-tools-gone_tool")).toHaveTextContent("not available");
    expect(screen.getByTestId("uses-secrets-CRM_TOKEN")).toHaveTextContent("“Helper” (Agent)");
    expect(screen.getByTestId("uses-variables")).toHaveTextContent("No variables");
    await user.click(screen.getByTestId("uses-secrets-CRM_TOKEN").querySelector("button") as HTMLElement);
    expect(store.getState().focus?.nodeId).toBe("agent");
  });
});
