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

/** The editor's connection rules; the reason is shown to the user when one is refused. */
export function checkConnection(
  connection: Pick<Connection, "source" | "target" | "sourceHandle" | "targetHandle">,
  edges: CanvasEdge[],
  portsOf: PortsOf,
  compatibility: Compatibility,
): ConnectionCheck {
  const { source, target, sourceHandle, targetHandle } = connection;
  if (!source || !target || !sourceHandle || !targetHandle) {
    return { ok: false, reason: "Connect an output port to an input port." };
  }
  if (source === target) return { ok: false, reason: "A node cannot feed itself." };
  const out: Port | undefined = portsOf(source)?.outputs[sourceHandle];
  const into: Port | undefined = portsOf(target)?.inputs[targetHandle];
  if (!out) return { ok: false, reason: `${source} has no output "${sourceHandle}".` };
  if (!into) return { ok: false, reason: `${target} has no input "${targetHandle}".` };
  if (!(compatibility[out.type] ?? []).includes(into.type)) {
    return {
      ok: false,
      reason: `Incompatible ports: ${source}.${sourceHandle} gives ${out.type}, but ${target}.${targetHandle} needs ${into.type}.`,
    };
  }
  const duplicate = edges.some(
    (e) =>
      e.source === source &&
      e.target === target &&
      e.sourceHandle === sourceHandle &&
      e.targetHandle === targetHandle,
  );
  if (duplicate) return { ok: false, reason: "These ports are already connected." };
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

export interface DiffHighlights {
  nodes: Record<string, ChangeKind>;
  edges: Record<string, ChangeKind>;
  lines: { kind: ChangeKind; what: string }[];
}

/** The server's diff as canvas highlights and a readable list. */
export function diffHighlights(diff: FlowDiff): DiffHighlights {
  const result: DiffHighlights = { nodes: {}, edges: {}, lines: [] };
  for (const node of diff.nodes.added) {
    result.nodes[node.id] = "added";
    result.lines.push({ kind: "added", what: `Node ${node.label ?? node.id} (${node.type})` });
  }
  for (const node of diff.nodes.removed) {
    result.nodes[node.id] = "removed";
    result.lines.push({ kind: "removed", what: `Node ${node.label ?? node.id} (${node.type})` });
  }
  for (const node of diff.nodes.changed) {
    result.nodes[node.id] = "changed";
    const keys = node.config_keys.length ? `: ${node.config_keys.join(", ")}` : "";
    result.lines.push({ kind: "changed", what: `Node ${node.id} ${node.fields.join(", ")}${keys}` });
  }
  for (const node of diff.nodes.moved) {
    result.nodes[node.id] ??= "moved";
    result.lines.push({ kind: "moved", what: `Node ${node.id} moved` });
  }
  for (const edge of diff.edges.added) {
    result.edges[edge.id] = "added";
    result.lines.push({ kind: "added", what: `Edge ${edge.source}.${edge.source_port} → ${edge.target}.${edge.target_port}` });
  }
  for (const edge of diff.edges.removed) {
    result.edges[edge.id] = "removed";
    result.lines.push({ kind: "removed", what: `Edge ${edge.source}.${edge.source_port} → ${edge.target}.${edge.target_port}` });
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
