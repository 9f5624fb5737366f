/**
 * What a flow uses from outside itself, read from its node configs (no React): the
 * organization's variables (`{{vars.NAME}}`), its secrets (`{{secrets.NAME}}`) and the tools its
 * nodes call. Tool fields are found through the config schema's `format` (or a field named
 * `tool`/`tools`, as the LLM node's list of callable tools), never by node type.
 */
import { catalogKey, type CanvasNode } from "./graph";
import type { NodeType } from "./types";

export interface Use {
  name: string;
  /** Ids of the nodes that use it, in canvas order. */
  nodes: string[];
}

export interface Inventory {
  variables: Use[];
  secrets: Use[];
  tools: Use[];
}

/** The server's reference syntax (flows/secrets.py REFERENCE). */
const REFERENCE = /\{\{\s*(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
/** Config formats whose value names a tool (a built-in, an HTTP/OpenAPI tool or an MCP server's tool). */
export const TOOL_FORMATS = new Set(["tool-name", "tool-names", "mcp-tool", "tool-ref"]);
const TOOL_FIELDS = new Set(["tool", "tools"]);

type Schema = Record<string, unknown>;

function strings(value: unknown, found: string[] = []): string[] {
  if (typeof value === "string") found.push(value);
  else if (Array.isArray(value)) for (const item of value) strings(item, found);
  else if (value && typeof value === "object") for (const item of Object.values(value)) strings(item, found);
  return found;
}

function resolveRef(schema: Schema, root: Schema): Schema {
  const ref = schema.$ref;
  if (typeof ref !== "string" || !ref.startsWith("#/$defs/")) return schema;
  return ((root.$defs as Record<string, Schema> | undefined)?.[ref.slice(8)] ?? schema) as Schema;
}

/** Whether a property (or one of its anyOf branches, or its items) names tools. */
function namesTools(schema: Schema | undefined, root: Schema, depth = 0): boolean {
  if (!schema || depth > 4) return false;
  const resolved = resolveRef(schema, root);
  if (typeof resolved.format === "string" && TOOL_FORMATS.has(resolved.format)) return true;
  const branches = [...((resolved.anyOf as Schema[] | undefined) ?? []), ...((resolved.oneOf as Schema[] | undefined) ?? [])];
  if (branches.some((b) => namesTools(b, root, depth + 1))) return true;
  return namesTools(resolved.items as Schema | undefined, root, depth + 1);
}

function add(into: Map<string, string[]>, name: string, nodeId: string) {
  const list = into.get(name) ?? [];
  if (!list.includes(nodeId)) list.push(nodeId);
  into.set(name, list);
}

const sorted = (uses: Map<string, string[]>): Use[] =>
  [...uses.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, nodes]) => ({ name, nodes }));

export function flowInventory(nodes: Pick<CanvasNode, "id" | "data">[], types: Record<string, NodeType>): Inventory {
  const variables = new Map<string, string[]>();
  const secrets = new Map<string, string[]>();
  const tools = new Map<string, string[]>();
  for (const node of nodes) {
    for (const text of strings(node.data.config)) {
      for (const match of text.matchAll(REFERENCE)) add(match[1] === "secrets" ? secrets : variables, match[2] ?? "", node.id);
    }
    const schema = (types[catalogKey(node.data.type, node.data.version)]?.config_schema ?? {}) as Schema;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const [field, property] of Object.entries(properties)) {
      if (!namesTools(property, schema) && !TOOL_FIELDS.has(field)) continue;
      for (const name of strings(node.data.config[field])) if (name.trim()) add(tools, name, node.id);
    }
  }
  return { variables: sorted(variables), secrets: sorted(secrets), tools: sorted(tools) };
}
