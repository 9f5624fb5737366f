/** What the flow uses from outside itself: variables, secrets and tools, each with the nodes that use it. */
import { useMemo } from "react";
import { useEditor } from "./context";
import { FlowCacheSettings } from "./FlowCacheSettings";
import { nodeName } from "./graph";
import { flowInventory, type Use } from "./inventory";

const SECTIONS = [
  ["variables", "Variables", "No variables: write {{vars.NAME}} in a node's settings to use one of the organization's variables."],
  ["secrets", "Secrets", "No secrets: write {{secrets.NAME}} in a node's settings (a header, a token) to use one; its value never shows here."],
  ["tools", "Tools", "No tools: a Tool call or Agent node picks the tools it calls."],
] as const;

/** `toolKinds`: the tools this organization has (name -> builtin, mcp, openapi); null while unknown. */
export function FlowPanel({ toolKinds = null }: { toolKinds?: Record<string, string> | null }) {
  const nodes = useEditor((s) => s.nodes);
  const types = useEditor((s) => s.types);
  const focusNode = useEditor((s) => s.focusNode);
  const inventory = useMemo(() => flowInventory(nodes, types), [nodes, types]);
  const byId = useMemo(() => new Map(nodes.map((n) => [n.id, n])), [nodes]);

  const usedBy = (use: Use) =>
    use.nodes.map((id) => (
      <button key={id} type="button" className="chip" onClick={() => focusNode(id)} title="Show this node">
        {nodeName(byId.get(id), types, id)}
      </button>
    ));

  return (
    <div className="panel-section" data-testid="flow-uses">
      {SECTIONS.map(([key, title, empty]) => (
        <section key={key} aria-label={title} data-testid={`uses-${key}`}>
          <h3 className="panel-subtitle">
            {title}
            {inventory[key].length ? ` (${inventory[key].length})` : ""}
          </h3>
          {inventory[key].length ? (
            <ul className="uses">
              {inventory[key].map((use) => (
                <li key={use.name} className="uses__item" data-testid={`uses-${key}-${use.name}`}>
                  <code>{use.name}</code>
                  {key === "tools" && toolKinds ? <ToolKind kind={toolKinds[use.name]} /> : null}
                  <span className="uses__nodes">{usedBy(use)}</span>
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted small">{empty}</p>
          )}
        </section>
      ))}
      <FlowCacheSettings />
    </div>
  );
}

const KIND_LABEL: Record<string, string> = { builtin: "built-in", mcp: "MCP", openapi: "OpenAPI" };

function ToolKind({ kind }: { kind: string | undefined }) {
  if (!kind) {
    return (
      <span className="badge badge--danger" title="No built-in, MCP or OpenAPI tool of this organization has this name: pick another in the node's settings, or connect the server in Settings.">
        not available
      </span>
    );
  }
  return <span className="badge badge--neutral">{KIND_LABEL[kind] ?? kind}</span>;
}
