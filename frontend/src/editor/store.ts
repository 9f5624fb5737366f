/**
 * The canvas store (zustand): the graph being edited, undo/redo, clipboard, selection, the
 * resolved ports, server issues, diff highlights and the live run state of each node.
 * React Flow is controlled from here; node components subscribe to their own slices.
 */
import { applyEdgeChanges, applyNodeChanges, type Connection, type EdgeChange, type NodeChange } from "@xyflow/react";
import { create } from "zustand";
import {
  autoLayout,
  canvasToSpec,
  catalogKey,
  checkConnection,
  convertersBetween,
  defaultConfig,
  indexIssues,
  nodeName,
  specToCanvas,
  staticPorts,
  uniqueId,
  type CanvasEdge,
  type CanvasNode,
  type Compatibility,
  type DiffHighlights,
  type IssueIndex,
} from "./graph";
import type { FlowSettings, FlowSpec, Issue, NodeCatalog, NodePorts, NodeType } from "./types";

export type SaveState = "saved" | "dirty" | "saving" | "conflict" | "error";
export type NodeRunStatus = "running" | "done" | "skipped" | "failed";

export interface NodeRun {
  status: NodeRunStatus;
  inputs?: unknown;
  outputs?: unknown;
  latencyMs?: number;
  tokens?: { input: number; output: number };
  error?: { code: string; message: string };
  text?: string;
}

interface Snapshot {
  nodes: CanvasNode[];
  edges: CanvasEdge[];
}

const HISTORY_LIMIT = 100;
const COALESCE_MS = 800;

export interface EditorState {
  nodes: CanvasNode[];
  edges: CanvasEdge[];
  types: Record<string, NodeType>;
  compatibility: Compatibility;
  ports: Record<string, Pick<NodePorts, "inputs" | "outputs">>;
  past: Snapshot[];
  future: Snapshot[];
  lastCoalesce: { key: string; at: number } | null;
  clipboard: Snapshot | null;
  /** Bumped on every change that must be saved. */
  changeCount: number;
  revision: number;
  saveState: SaveState;
  saveError: string | null;
  issues: Issue[];
  issueIndex: IssueIndex;
  refusal: { message: string; at: number } | null;
  highlights: DiffHighlights | null;
  runs: Record<string, NodeRun>;
  focus: { nodeId: string; at: number } | null;
  readOnly: boolean;
  /** The flow's settings (its response-cache default), saved with the graph; null: none. */
  settings: FlowSettings | null;

  setCatalog: (catalog: NodeCatalog) => void;
  load: (spec: FlowSpec, revision: number, issues: Issue[]) => void;
  spec: () => FlowSpec;
  portsOf: (nodeId: string) => Pick<NodePorts, "inputs" | "outputs"> | undefined;
  setPorts: (ports: Record<string, Pick<NodePorts, "inputs" | "outputs">>) => void;
  onNodesChange: (changes: NodeChange<CanvasNode>[]) => void;
  onEdgesChange: (changes: EdgeChange<CanvasEdge>[]) => void;
  beginDrag: () => void;
  connect: (connection: Connection) => boolean;
  addNode: (type: string, version: number, position: { x: number; y: number }) => string | null;
  updateConfig: (nodeId: string, config: Record<string, unknown>) => void;
  setLabel: (nodeId: string, label: string | null) => void;
  deleteSelection: () => void;
  copySelection: () => void;
  paste: () => void;
  undo: () => void;
  redo: () => void;
  layout: () => void;
  select: (nodeId: string | null) => void;
  refuse: (message: string) => void;
  setSaveState: (state: SaveState, error?: string | null) => void;
  markSaved: (revision: number, issues: Issue[]) => void;
  setIssues: (issues: Issue[]) => void;
  setHighlights: (highlights: DiffHighlights | null) => void;
  resetRuns: () => void;
  setNodeRun: (nodeId: string, update: Partial<NodeRun>) => void;
  focusNode: (nodeId: string) => void;
  setReadOnly: (readOnly: boolean) => void;
  setSettings: (settings: FlowSettings | null) => void;
}

function snapshot(state: Pick<EditorState, "nodes" | "edges">): Snapshot {
  return { nodes: state.nodes, edges: state.edges };
}

export const createEditorStore = () =>
  create<EditorState>()((set, get) => {
    /** Records the current graph for undo before a change; `key` coalesces bursts (typing). */
    const record = (key?: string) => {
      const state = get();
      const now = Date.now();
      if (key && state.lastCoalesce?.key === key && now - state.lastCoalesce.at < COALESCE_MS) {
        set({ lastCoalesce: { key, at: now } });
        return;
      }
      set({
        past: [...state.past, snapshot(state)].slice(-HISTORY_LIMIT),
        future: [],
        lastCoalesce: key ? { key, at: now } : null,
      });
    };
    const changed = () => set((s) => ({ changeCount: s.changeCount + 1, saveState: s.saveState === "conflict" ? "conflict" : "dirty" }));
    const editable = () => !get().readOnly;

    return {
      nodes: [],
      edges: [],
      types: {},
      compatibility: {},
      ports: {},
      past: [],
      future: [],
      lastCoalesce: null,
      clipboard: null,
      changeCount: 0,
      revision: 0,
      saveState: "saved",
      saveError: null,
      issues: [],
      issueIndex: { nodes: {}, edges: {}, general: [] },
      refusal: null,
      highlights: null,
      runs: {},
      focus: null,
      readOnly: false,
      settings: null,

      setCatalog: (catalog) =>
        set({
          types: Object.fromEntries(catalog.node_types.map((t) => [catalogKey(t.type, t.version), t])),
          compatibility: catalog.port_compatibility,
        }),

      load: (spec, revision, issues) => {
        const { nodes, edges } = specToCanvas(spec);
        set({
          nodes,
          edges,
          settings: spec.settings?.cache ? spec.settings : null,
          revision,
          past: [],
          future: [],
          changeCount: 0,
          saveState: "saved",
          saveError: null,
          issues,
          issueIndex: indexIssues(issues, spec),
          highlights: null,
        });
      },

      spec: () => {
        const { nodes, edges, settings } = get();
        return settings ? { ...canvasToSpec(nodes, edges), settings } : canvasToSpec(nodes, edges);
      },

      portsOf: (nodeId) => {
        const state = get();
        const resolved = state.ports[nodeId];
        if (resolved) return resolved;
        const node = state.nodes.find((n) => n.id === nodeId);
        if (!node) return undefined;
        return staticPorts(state.types[catalogKey(node.data.type, node.data.version)]);
      },

      setPorts: (ports) => set((s) => ({ ports: { ...s.ports, ...ports } })),

      onNodesChange: (changes) => {
        const structural = changes.filter((c) => c.type !== "select" && c.type !== "dimensions");
        if (structural.length && !editable()) {
          changes = changes.filter((c) => c.type === "select" || c.type === "dimensions");
        }
        if (changes.some((c) => c.type === "remove")) record();
        set((s) => ({ nodes: applyNodeChanges(changes, s.nodes) }));
        const moved = changes.some((c) => c.type === "position" && c.dragging === false);
        if (moved || changes.some((c) => c.type === "remove" || c.type === "add")) changed();
      },

      onEdgesChange: (changes) => {
        if (!editable()) changes = changes.filter((c) => c.type === "select");
        if (changes.some((c) => c.type === "remove")) record();
        set((s) => ({ edges: applyEdgeChanges(changes, s.edges) }));
        if (changes.some((c) => c.type === "remove" || c.type === "add")) changed();
      },

      beginDrag: () => {
        if (editable()) record();
      },

      connect: (connection) => {
        if (!editable()) return false;
        const state = get();
        const verdict = checkConnection(
          connection,
          state.edges,
          state.portsOf,
          state.compatibility,
          (id) => nodeName(state.nodes.find((n) => n.id === id), state.types, id),
          (given, needed) => convertersBetween(state.types, state.compatibility, given, needed),
        );
        if (!verdict.ok) {
          state.refuse(verdict.reason);
          return false;
        }
        record();
        const taken = new Set(state.edges.map((e) => e.id));
        const id = uniqueId(`e_${connection.source}_${connection.target}`, taken);
        set((s) => ({
          edges: [
            ...s.edges,
            {
              id,
              source: connection.source,
              target: connection.target,
              sourceHandle: connection.sourceHandle,
              targetHandle: connection.targetHandle,
            },
          ],
          refusal: null,
        }));
        changed();
        return true;
      },

      addNode: (type, version, position) => {
        if (!editable()) return null;
        const state = get();
        const nodeType = state.types[catalogKey(type, version)];
        if (!nodeType) return null;
        record();
        const id = uniqueId(type, new Set(state.nodes.map((n) => n.id)));
        const node: CanvasNode = {
          id,
          type: "trellis",
          position,
          selected: true,
          data: { type, version, label: null, config: defaultConfig(nodeType.config_schema) },
        };
        set((s) => ({
          nodes: [...s.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), node],
          edges: s.edges.map((e) => (e.selected ? { ...e, selected: false } : e)),
        }));
        changed();
        return id;
      },

      updateConfig: (nodeId, config) => {
        if (!editable()) return;
        record(`config:${nodeId}`);
        set((s) => ({
          nodes: s.nodes.map((n) => (n.id === nodeId ? { ...n, data: { ...n.data, config } } : n)),
        }));
        changed();
      },

      setLabel: (nodeId, label) => {
        if (!editable()) return;
        record(`label:${nodeId}`);
        set((s) => ({
          nodes: s.nodes.map((n) => (n.id === nodeId ? { ...n, data: { ...n.data, label } } : n)),
        }));
        changed();
      },

      deleteSelection: () => {
        if (!editable()) return;
        const state = get();
        const gone = new Set(state.nodes.filter((n) => n.selected).map((n) => n.id));
        const edges = state.edges.filter((e) => !e.selected && !gone.has(e.source) && !gone.has(e.target));
        if (!gone.size && edges.length === state.edges.length) return;
        record();
        set({ nodes: state.nodes.filter((n) => !gone.has(n.id)), edges });
        changed();
      },

      copySelection: () => {
        const state = get();
        const nodes = state.nodes.filter((n) => n.selected);
        const ids = new Set(nodes.map((n) => n.id));
        const edges = state.edges.filter((e) => ids.has(e.source) && ids.has(e.target));
        if (nodes.length) set({ clipboard: { nodes, edges } });
      },

      paste: () => {
        const state = get();
        const clip = state.clipboard;
        if (!clip || !editable()) return;
        record();
        const taken = new Set(state.nodes.map((n) => n.id));
        const rename = new Map<string, string>();
        const nodes = clip.nodes.map((n) => {
          const id = uniqueId(n.id, taken);
          taken.add(id);
          rename.set(n.id, id);
          return {
            ...n,
            id,
            selected: true,
            position: { x: n.position.x + 40, y: n.position.y + 40 },
            data: { ...n.data, config: structuredClone(n.data.config) },
          };
        });
        const edgeIds = new Set(state.edges.map((e) => e.id));
        const edges = clip.edges.map((e) => {
          const id = uniqueId(`${e.id}_copy`, edgeIds);
          edgeIds.add(id);
          return { ...e, id, source: rename.get(e.source) ?? e.source, target: rename.get(e.target) ?? e.target, selected: false };
        });
        set({
          nodes: [...state.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), ...nodes],
          edges: [...state.edges, ...edges],
          // The next paste lands further along, not on top of this one.
          clipboard: { nodes: nodes.map((n) => ({ ...n, selected: false })), edges: clip.edges.map((e) => ({ ...e, source: rename.get(e.source) ?? e.source, target: rename.get(e.target) ?? e.target })) },
        });
        changed();
      },

      undo: () => {
        const state = get();
        const previous = state.past[state.past.length - 1];
        if (!previous || !editable()) return;
        set({
          past: state.past.slice(0, -1),
          future: [snapshot(state), ...state.future],
          nodes: previous.nodes,
          edges: previous.edges,
          lastCoalesce: null,
        });
        changed();
      },

      redo: () => {
        const state = get();
        const next = state.future[0];
        if (!next || !editable()) return;
        set({
          future: state.future.slice(1),
          past: [...state.past, snapshot(state)],
          nodes: next.nodes,
          edges: next.edges,
          lastCoalesce: null,
        });
        changed();
      },

      layout: () => {
        if (!editable()) return;
        const state = get();
        record();
        const positions = autoLayout(state.nodes, state.edges);
        set({ nodes: state.nodes.map((n) => ({ ...n, position: positions[n.id] ?? n.position })) });
        changed();
      },

      select: (nodeId) =>
        set((s) => ({
          nodes: s.nodes.map((n) => {
            const selected = n.id === nodeId;
            return n.selected === selected ? n : { ...n, selected };
          }),
          edges: s.edges.map((e) => (e.selected ? { ...e, selected: false } : e)),
        })),

      refuse: (message) => set({ refusal: { message, at: Date.now() } }),

      setSaveState: (saveState, saveError = null) => set({ saveState, saveError }),

      markSaved: (revision, issues) => {
        const spec = get().spec();
        set({ revision, issues, issueIndex: indexIssues(issues, spec) });
      },

      setIssues: (issues) => set({ issues, issueIndex: indexIssues(issues, get().spec()) }),

      setHighlights: (highlights) => set({ highlights }),

      resetRuns: () => set({ runs: {} }),

      setNodeRun: (nodeId, update) =>
        set((s) => ({
          runs: { ...s.runs, [nodeId]: { ...(s.runs[nodeId] ?? { status: "running" }), ...update } },
        })),

      focusNode: (nodeId) => {
        get().select(nodeId);
        set({ focus: { nodeId, at: Date.now() } });
      },

      setReadOnly: (readOnly) => set({ readOnly }),
      setSettings: (settings) => {
        set({ settings: settings?.cache ? settings : null });
        changed();
      },
    };
  });

export type EditorStore = ReturnType<typeof createEditorStore>;
