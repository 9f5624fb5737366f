/**
 * The editor's pure graph logic (no React): FlowSpec <-> canvas, the connection rules, issue
 * and diff mapping, auto-layout, template variables. Everything node-specific comes from the
 * server's catalog; nothing here knows a node type by name.
 */
import type { Connection, Edge, Node } from "@xyflow/react";
import type { FlowDiff, FlowSpec, Issue, NodePorts, NodeType, Port, SpecEdge } from "./types";

export interface NodeData extends Record<string, unknown> {
  type: string;
  version: number;
  label: string | null;
  config: Record<string, unknown>;
}

export type CanvasNode = Node<NodeData, "trellis">;
export type CanvasEdge = Edge<{ sourcePortType?: string }>;
export type Compatibility = Record<string, string[]>;
export type PortsOf = (nodeId: string) => Pick<NodePorts, "inputs" | "outputs"> | undefined;

export const catalogKey = (type: string, version: number) => `${type}@${version}`;

export function specToCanvas(spec: FlowSpec): { nodes: CanvasNode[]; edges: CanvasEdge[] } {
  const nodes = (spec.nodes ?? []).map<CanvasNode>((node) => ({
    id: node.id,
    type: "trellis",
    position: { x: node.position?.x ?? 0, y: node.position?.y ?? 0 },
    data: {
      type: node.type,
      version: node.version ?? 1,
      label: node.label ?? null,
      config: { ...(node.config ?? {}) },
    },
  }));
  const edges = (spec.edges ?? []).map(edgeFromSpec);
  return { nodes, edges };
}

export function edgeFromSpec(edge: SpecEdge): CanvasEdge {
  return {
    id: edge.id,
    source: edge.source,
    sourceHandle: edge.source_port,
    target: edge.target,
    targetHandle: edge.target_port,
  };
}

export function canvasToSpec(nodes: CanvasNode[], edges: CanvasEdge[]): FlowSpec {
  return {
    nodes: nodes.map((node) => ({
      id: node.id,
      type: node.data.type,
      version: node.data.version,
      position: { x: Math.round(node.position.x), y: Math.round(node.position.y) },
      label: node.data.label,
      config: node.data.config,
    })),
    edges: edges.map((edge) => ({
      id: edge.id,
      source: edge.source,
      source_port: edge.sourceHandle ?? "",
      target: edge.target,
      target_port: edge.targetHandle ?? "",
    })),
  };
}

/** Static ports from the catalog, replaced by the server-resolved ones for dynamic types. */
export function staticPorts(nodeType: NodeType | undefined): Pick<NodePorts, "inputs" | "outputs"> {
  return { inputs: nodeType?.inputs ?? {}, outputs: nodeType?.outputs ?? {} };
}

export type ConnectionCheck = { ok: true } | { ok: false; reason: string };
export type NameOf = (nodeId: string) => string;

/** “Answer” (LLM): a node as people see it, by its label (else its id) and its type's title. */
export function nodeName(node: Pick<CanvasNode, "id" | "data"> | undefined, types: Record<string, NodeType>, id = ""): string {
  if (!node) return `“${id}”`;
  const title = types[catalogKey(node.data.type, node.data.version)]?.title ?? node.data.type;
  return `“${node.data.label || node.id}” (${title})`;
}

/** Titles of node types with a fixed required input of type `given` and a fixed output that gives `needed`. */
export function convertersBetween(types: Record<string, NodeType>, compatibility: Compatibility, given: string, needed: string): string[] {
  const fits = (from: string, to: string) => (compatibility[from] ?? []).includes(to);
  const found: string[] = [];
  for (const t of Object.values(types)) {
    if (t.dynamic_inputs || t.dynamic_outputs) continue;
    // A required input of exactly the given type: the node is made for that value, not merely able to render it.
    const takes = Object.values(t.inputs).some((p) => p.required && p.type === given);
    const gives = Object.values(t.outputs).some((p) => p.type !== "any" && fits(p.type, needed));
    if (takes && gives && !found.includes(t.title)) found.push(t.title);
  }
  return found;
}

/** The editor's connection rules; the reason, a sentence for people, is shown when one is refused. */
export function checkConnection(
  connection: Pick<Connection, "source" | "target" | "sourceHandle" | "targetHandle">,
  edges: CanvasEdge[],
  portsOf: PortsOf,
  compatibility: Compatibility,
  nameOf: NameOf = (id) => `“${id}”`,
  suggest: (given: string, needed: string) => string[] = () => [],
): ConnectionCheck {
  const { source, target, sourceHandle, targetHandle } = connection;
  if (!source || !target || !sourceHandle || !targetHandle) {
    return { ok: false, reason: "Drag from an output port (right side) to an input port (left side)." };
  }
  if (source === target) return { ok: false, reason: "A node cannot feed itself: connect it to another node." };
  const out: Port | undefined = portsOf(source)?.outputs[sourceHandle];
  const into: Port | undefined = portsOf(target)?.inputs[targetHandle];
  if (!out) return { ok: false, reason: `${nameOf(source)} has no output “${sourceHandle}”.` };
  if (!into) return { ok: false, reason: `${nameOf(target)} has no input “${targetHandle}”.` };
  if (!(compatibility[out.type] ?? []).includes(into.type)) {
    const between = suggest(out.type, into.type);
    const fix = between.length ? `put a ${between[0]} node between them` : `connect an output that gives ${into.type}`;
    return {
      ok: false,
      reason: `${nameOf(source)}'s “${sourceHandle}” gives ${out.type}, but ${nameOf(target)}'s “${targetHandle}” needs ${into.type}: ${fix}.`,
    };
  }
  const duplicate = edges.some(
    (e) =>
      e.source === source &&
      e.target === target &&
      e.sourceHandle === sourceHandle &&
      e.targetHandle === targetHandle,
  );
  if (duplicate) return { ok: false, reason: "These two ports are already connected." };
  return { ok: true };
}

export function uniqueId(base: string, taken: Set<string>): string {
  const stem = base.replace(/[^A-Za-z0-9_.:-]/g, "_").slice(0, 56) || "node";
  if (!taken.has(stem)) return stem;
  for (let i = 2; ; i += 1) {
    const candidate = `${stem}_${i}`;
    if (!taken.has(candidate)) return candidate;
  }
}

/** Defaults of a config JSON Schema: `default` values, plus "" for required strings. */
export function defaultConfig(schema: Record<string, unknown>): Record<string, unknown> {
  const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  const config: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(properties)) {
    if ("default" in prop && prop.default !== null) config[name] = prop.default;
  }
  return config;
}

export interface IssueIndex {
  nodes: Record<string, Issue[]>;
  edges: Record<string, Issue[]>;
  general: Issue[];
}

/** Which node or edge each issue concerns: its node/edge id, else the JSON pointer's index. */
export function indexIssues(issues: Issue[], spec: FlowSpec): IssueIndex {
  const index: IssueIndex = { nodes: {}, edges: {}, general: [] };
  for (const issue of issues) {
    let edge = issue.edge;
    let node = issue.node;
    const match = /^\/(nodes|edges)\/(\d+)/.exec(issue.pointer);
    if (match && !edge && !node) {
      const i = Number(match[2]);
      if (match[1] === "nodes") node = spec.nodes?.[i]?.id ?? null;
      else edge = spec.edges?.[i]?.id ?? null;
    }
    if (edge) (index.edges[edge] ??= []).push(issue);
    else if (node) (index.nodes[node] ??= []).push(issue);
    else index.general.push(issue);
  }
  return index;
}

/** The config field an issue points at (`/nodes/3/config/template` -> "template"). */
export function issueField(issue: Issue): string | null {
  const match = /^\/nodes\/\d+\/config\/([^/]+)/.exec(issue.pointer);
  return match?.[1] ?? null;
}

export type ChangeKind = "added" | "removed" | "changed" | "moved";

/** One changed value of a node: its field, the old and the new value as text (null: not set). */
export interface ValueChange {
  field: string;
  before: string | null;
  after: string | null;
}

export interface DiffLine {
  kind: ChangeKind;
  what: string;
  changes?: ValueChange[];
}

export interface DiffHighlights {
  nodes: Record<string, ChangeKind>;
  edges: Record<string, ChangeKind>;
  lines: DiffLine[];
}

/** A config value as a person reads it: text as is, anything else as compact JSON. */
export function showValue(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

function valueChanges(node: FlowDiff["nodes"]["changed"][number]): ValueChange[] {
  const before = node.before as Record<string, unknown>;
  const after = node.after as Record<string, unknown>;
  const changes: ValueChange[] = [];
  for (const field of ["type", "version", "label"]) {
    if (node.fields.includes(field)) changes.push({ field, before: showValue(before[field]), after: showValue(after[field]) });
  }
  const oldConfig = (before.config ?? {}) as Record<string, unknown>;
  const newConfig = (after.config ?? {}) as Record<string, unknown>;
  for (const key of node.config_keys) changes.push({ field: key, before: showValue(oldConfig[key]), after: showValue(newConfig[key]) });
  return changes;
}

/** The server's diff as canvas highlights and a readable list, each change with its old and new value. */
export function diffHighlights(diff: FlowDiff, labelOf: (id: string) => string | null | undefined = () => null): DiffHighlights {
  const result: DiffHighlights = { nodes: {}, edges: {}, lines: [] };
  const named = (id: string, label?: string | null) => {
    const shown = label ?? labelOf(id);
    return shown && shown !== id ? `“${shown}” (${id})` : id;
  };
  const connectionWords = (edge: FlowDiff["edges"]["added"][number]) => {
    const end = (id: string) => `“${labelOf(id) || id}”`;
    return `Connection ${end(edge.source)} ${edge.source_port} → ${end(edge.target)} ${edge.target_port}`;
  };
  for (const node of diff.nodes.added) {
    result.nodes[node.id] = "added";
    result.lines.push({ kind: "added", what: `Node ${named(node.id, node.label)} (${node.type})` });
  }
  for (const node of diff.nodes.removed) {
    result.nodes[node.id] = "removed";
    result.lines.push({ kind: "removed", what: `Node ${named(node.id, node.label)} (${node.type})` });
  }
  for (const node of diff.nodes.changed) {
    result.nodes[node.id] = "changed";
    const keys = node.config_keys.length ? `: ${node.config_keys.join(", ")}` : "";
    result.lines.push({
      kind: "changed",
      what: `Node ${named(node.id)} ${node.fields.join(", ")}${keys}`,
      changes: valueChanges(node),
    });
  }
  for (const node of diff.nodes.moved) {
    result.nodes[node.id] ??= "moved";
    result.lines.push({ kind: "moved", what: `Node ${named(node.id)} moved` });
  }
  for (const edge of diff.edges.added) {
    result.edges[edge.id] = "added";
    result.lines.push({ kind: "added", what: connectionWords(edge) });
  }
  for (const edge of diff.edges.removed) {
    result.edges[edge.id] = "removed";
    result.lines.push({ kind: "removed", what: connectionWords(edge) });
  }
  return result;
}

/** Layered left-to-right layout: a node's column is its longest path from a source. */
export function autoLayout(
  nodes: Pick<CanvasNode, "id">[],
  edges: Pick<CanvasEdge, "source" | "target">[],
  spacing = { x: 300, y: 150 },
): Record<string, { x: number; y: number }> {
  const ids = nodes.map((n) => n.id);
  const known = new Set(ids);
  const children = new Map<string, string[]>();
  const indegree = new Map(ids.map((id) => [id, 0]));
  for (const e of edges) {
    if (!known.has(e.source) || !known.has(e.target) || e.source === e.target) continue;
    children.set(e.source, [...(children.get(e.source) ?? []), e.target]);
    indegree.set(e.target, (indegree.get(e.target) ?? 0) + 1);
  }
  const layer = new Map(ids.map((id) => [id, 0]));
  const queue = ids.filter((id) => indegree.get(id) === 0);
  const seen = new Set<string>();
  while (queue.length) {
    const id = queue.shift() as string;
    seen.add(id);
    for (const child of children.get(id) ?? []) {
      layer.set(child, Math.max(layer.get(child) ?? 0, (layer.get(id) ?? 0) + 1));
      indegree.set(child, (indegree.get(child) ?? 1) - 1);
      if (indegree.get(child) === 0) queue.push(child);
    }
  }
  // Nodes on a cycle keep column 0 plus whatever they reached; they still get a free row.
  const rows = new Map<number, number>();
  const positions: Record<string, { x: number; y: number }> = {};
  for (const id of ids) {
    const column = layer.get(id) ?? 0;
    const row = rows.get(column) ?? 0;
    rows.set(column, row + 1);
    positions[id] = { x: column * spacing.x, y: row * spacing.y };
  }
  return positions;
}

/** `{{name}}` variables of a template, in order, without repeats. */
export function templateVariables(text: string): string[] {
  const names: string[] = [];
  for (const match of text.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}/g)) {
    const name = (match[1] ?? "").split(".")[0] ?? "";
    if (name && !names.includes(name)) names.push(name);
  }
  return names;
}
