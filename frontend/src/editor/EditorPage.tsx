/** The flow editor (lazy-loaded route): palette, canvas, side panel, autosave, live runs. */
import "@xyflow/react/dist/style.css";
import "./editor.css";
import { ReactFlowProvider, useReactFlow } from "@xyflow/react";
import { useCallback, useEffect, useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { orgPath } from "../lib/routes";
import { CurrentOrgContext, useSession } from "../shell/session";
import { ErrorState, LoadingState } from "../ui/feedback";
import { ChevronLeftIcon } from "../ui/icons";
import { fetchFlow, useFlow, useModels, useNodeCatalog, useOrgTools, useVersions } from "./api";
import { Canvas } from "./Canvas";
import { FlowPanel } from "./FlowPanel";
import { ConfigPanel } from "./ConfigPanel";
import { EditorStoreContext, useEditor, useEditorStoreApi } from "./context";
import { Palette } from "./Palette";
import { ProblemsPanel } from "./ProblemsPanel";
import { RunPanel } from "./RunPanel";
import { createEditorStore, type SaveState } from "./store";
import type { FlowDetail, NodeType } from "./types";
import { useAutosave } from "./useAutosave";
import { usePortResolver } from "./usePorts";
import { useRun } from "./useRun";
import { VersionsPanel } from "./VersionsPanel";
import { FIT_VIEW, useNarrow } from "./viewport";

export function EditorPage() {
  const { orgId = "", flowId = "" } = useParams();
  const me = useSession();
  const org = me.organizations.find((o) => o.id === orgId);
  const role = org?.role;
  const catalog = useNodeCatalog();
  const flow = useFlow(orgId, flowId);
  const [store] = useState(createEditorStore);
  const [loadedFor, setLoadedFor] = useState<string | null>(null);

  useEffect(() => {
    if (catalog.data) store.getState().setCatalog(catalog.data);
  }, [catalog.data, store]);

  useEffect(() => {
    if (flow.data && loadedFor !== flow.data.id) {
      store.getState().load(flow.data.draft, flow.data.revision ?? 0, flow.data.issues);
      setLoadedFor(flow.data.id);
    }
  }, [flow.data, loadedFor, store]);

  useEffect(() => store.getState().setReadOnly(role === "viewer"), [role, store]);

  if (!org || !role) return <ErrorState error={new Error("Organization not found.")} title="Not found" />;
  if (flow.error || catalog.error) {
    return (
      <div className="editor-state">
        <ErrorState error={flow.error ?? catalog.error} onRetry={() => void (flow.error ? flow.refetch() : catalog.refetch())} />
        <Link to={orgPath(orgId, "flows")}>Back to flows</Link>
      </div>
    );
  }
  if (!flow.data || !catalog.data || loadedFor !== flow.data.id) return <LoadingState label="Opening the editor…" />;

  // The editor's route sits outside the shell's organization layout: the organization is
  // provided here, so what the editor shows from other pages (the gate's override) can read it.
  return (
    <CurrentOrgContext.Provider value={org}>
      <EditorStoreContext.Provider value={store}>
        <ReactFlowProvider>
          <Editor orgId={orgId} flow={flow.data} tools={catalog.data.tools} />
        </ReactFlowProvider>
      </EditorStoreContext.Provider>
    </CurrentOrgContext.Provider>
  );
}

type Tab = "node" | "problems" | "flow" | "versions" | "run";

const SAVE_LABEL: Record<SaveState, string> = {
  saved: "Saved",
  dirty: "Unsaved changes",
  saving: "Saving…",
  conflict: "Conflict",
  error: "Not saved",
};

function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return Boolean(el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)));
}

function Editor({ orgId, flow, tools }: { orgId: string; flow: FlowDetail; tools: string[] }) {
  const store = useEditorStoreApi();
  const reactFlow = useReactFlow();
  const { saveNow } = useAutosave(orgId, flow.id);
  usePortResolver();
  const run = useRun(orgId, flow.id);
  const versions = useVersions(orgId, flow.id);
  const models = useModels(orgId);
  const orgTools = useOrgTools(orgId);
  // name -> kind (builtin, mcp, openapi): the catalog's built-ins, then the organization's own.
  const toolKinds = useMemo(() => {
    const kinds: Record<string, string> = Object.fromEntries(tools.map((name) => [name, "builtin"]));
    for (const tool of orgTools.data ?? []) kinds[tool.name] = tool.kind;
    return kinds;
  }, [tools, orgTools.data]);
  // ?version=N (the runs page's "open in editor"): start on Versions, showing that version's changes.
  const [params] = useSearchParams();
  const focusVersion = /^\d+$/.test(params.get("version") ?? "") ? Number(params.get("version")) : null;
  const [tab, setTab] = useState<Tab>(focusVersion ? "versions" : "node");
  const [published, setPublished] = useState<number | null>(flow.published_version);
  const saveState = useEditor((s) => s.saveState);
  const saveError = useEditor((s) => s.saveError);
  const issueCount = useEditor((s) => s.issues.length);
  const selected = useEditor((s) => {
    const chosen = s.nodes.filter((n) => n.selected);
    return chosen.length === 1 ? (chosen[0]?.id ?? null) : chosen.length ? `${chosen.length}` : null;
  });
  const selectedCount = useEditor((s) => s.nodes.filter((n) => n.selected).length + s.edges.filter((e) => e.selected).length);
  const canUndo = useEditor((s) => s.past.length > 0);
  const canRedo = useEditor((s) => s.future.length > 0);
  const refusal = useEditor((s) => s.refusal);
  const readOnly = useEditor((s) => s.readOnly);
  const focus = useEditor((s) => s.focus);
  const narrow = useNarrow();
  const [drawerOpen, setDrawerOpen] = useState(false);
  const closeDrawer = useCallback(() => setDrawerOpen(false), []);

  useEffect(() => {
    if (!narrow) setDrawerOpen(false);
  }, [narrow]);

  useEffect(() => {
    if (focus) setTab("node");
  }, [focus]);

  const formContext = useMemo(
    () => ({
      models: (models.data ?? []).filter((m) => m.kind !== "embedding").map((m) => m.alias),
      tools: Object.keys(toolKinds),
      orgId,
      readOnly,
    }),
    [models.data, toolKinds, orgId, readOnly],
  );

  const afterLayout = useCallback(() => {
    store.getState().layout();
    requestAnimationFrame(() => void reactFlow.fitView({ ...FIT_VIEW, duration: 200 }));
  }, [store, reactFlow]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const mod = event.ctrlKey || event.metaKey;
      const key = event.key.toLowerCase();
      if (mod && key === "s") {
        event.preventDefault();
        void saveNow();
        return;
      }
      if (isTyping(event.target) || document.querySelector("[role=dialog]")) return;
      const state = store.getState();
      if (key === "delete" || key === "backspace") {
        event.preventDefault();
        state.deleteSelection();
      } else if (mod && key === "z" && !event.shiftKey) {
        event.preventDefault();
        state.undo();
      } else if (mod && (key === "y" || (key === "z" && event.shiftKey))) {
        event.preventDefault();
        state.redo();
      } else if (mod && key === "c") {
        state.copySelection();
      } else if (mod && key === "v") {
        event.preventDefault();
        state.paste();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [store, saveNow]);

  const addFromPalette = useCallback(
    (type: NodeType) => {
      const box = document.querySelector(".canvas")?.getBoundingClientRect();
      const center = box
        ? reactFlow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 })
        : { x: 0, y: 0 };
      const offset = (store.getState().nodes.length % 5) * 24;
      store.getState().addNode(type.type, type.version, { x: center.x - 90 + offset, y: center.y - 40 + offset });
      setTab("node");
      setDrawerOpen(false);
    },
    [reactFlow, store],
  );

  const reload = useCallback(async () => {
    const fresh = await fetchFlow(orgId, flow.id);
    store.getState().load(fresh.draft, fresh.revision ?? 0, fresh.issues);
    setPublished(fresh.published_version);
  }, [orgId, flow.id, store]);

  const overwrite = useCallback(async () => {
    const fresh = await fetchFlow(orgId, flow.id);
    store.setState({ revision: fresh.revision ?? 0, saveState: "dirty", saveError: null });
    await saveNow();
  }, [orgId, flow.id, store, saveNow]);

  const onRestored = useCallback(
    (restored: FlowDetail) => {
      store.getState().load(restored.draft, restored.revision ?? 0, restored.issues);
      requestAnimationFrame(() => void reactFlow.fitView(FIT_VIEW));
    },
    [store, reactFlow],
  );

  return (
    <div className="editor" data-testid="editor">
      <header className="editor__bar">
        <Link className="icon-button" to={orgPath(orgId, "flows")} aria-label="Back to flows" title="Back to flows">
          <ChevronLeftIcon size={18} />
        </Link>
        <h1 className="editor__title" title={flow.name}>
          {flow.name}
        </h1>
        <span className={`save save--${saveState}`} data-testid="save-state" data-state={saveState} title={saveError ?? undefined} role="status">
          {SAVE_LABEL[saveState]}
        </span>
        {saveState === "conflict" ? (
          <span className="conflict" role="alert">
            The draft was changed elsewhere.
            <button type="button" className="btn btn--secondary btn--sm" onClick={() => void reload()}>
              Load theirs
            </button>
            <button type="button" className="btn btn--ghost btn--sm" onClick={() => void overwrite()}>
              Keep mine
            </button>
          </span>
        ) : null}
        {saveState === "error" ? (
          <button type="button" className="btn btn--ghost btn--sm" onClick={() => void saveNow()} title={saveError ?? ""}>
            Retry save
          </button>
        ) : null}
        {readOnly ? <span className="badge badge--neutral">Read only</span> : null}
        <div className="editor__tools" role="toolbar" aria-label="Canvas tools">
          {narrow ? (
            <button
              type="button"
              className="btn btn--secondary btn--sm"
              onClick={() => setDrawerOpen((open) => !open)}
              disabled={readOnly}
              aria-expanded={drawerOpen}
              title="Open the node palette"
            >
              Add node
            </button>
          ) : null}
          <button type="button" className="btn btn--ghost btn--sm" onClick={() => store.getState().undo()} disabled={!canUndo || readOnly} title="Undo (Ctrl+Z)">
            Undo
          </button>
          <button type="button" className="btn btn--ghost btn--sm" onClick={() => store.getState().redo()} disabled={!canRedo || readOnly} title="Redo (Ctrl+Shift+Z)">
            Redo
          </button>
          <button type="button" className="btn btn--ghost btn--sm" onClick={() => store.getState().copySelection()} disabled={!selectedCount} title="Copy (Ctrl+C)">
            Copy
          </button>
          <button type="button" className="btn btn--ghost btn--sm" onClick={() => store.getState().paste()} disabled={readOnly} title="Paste (Ctrl+V)">
            Paste
          </button>
          <button type="button" className="btn btn--ghost btn--sm" onClick={() => store.getState().deleteSelection()} disabled={!selectedCount || readOnly} title="Delete (Del)">
            Delete
          </button>
          <button type="button" className="btn btn--ghost btn--sm" onClick={afterLayout} disabled={readOnly} title="Arrange the nodes left to right">
            Auto-layout
          </button>
          <button type="button" className="btn btn--ghost btn--sm" onClick={() => void reactFlow.fitView({ ...FIT_VIEW, duration: 200 })} title="Fit the flow in view (never smaller than readable)">
            Fit
          </button>
        </div>
        <span className="editor__published" data-testid="published-version">
          {published ? `Published: v${published}` : "Not published"}
        </span>
      </header>
      <div className="editor__body">
        {!narrow ? <Palette onAdd={addFromPalette} /> : null}
        {/* Non-modal: the canvas beside it stays a drop target. */}
        {narrow && drawerOpen ? <Palette onAdd={addFromPalette} onClose={closeDrawer} /> : null}
        <Canvas onNodeClick={() => setTab("node")} />
        <aside className="side" aria-label="Editor panel">
          <div className="tabs" role="tablist">
            {(
              [
                ["node", "Node"],
                ["problems", `Problems${issueCount ? ` (${issueCount})` : ""}`],
                ["flow", "Uses"],
                ["versions", "Versions"],
                ["run", "Playground"],
              ] as [Tab, string][]
            ).map(([id, label]) => (
              <button
                key={id}
                type="button"
                role="tab"
                aria-selected={tab === id}
                className={`tab${tab === id ? " tab--active" : ""}${id === "problems" && issueCount ? " tab--warn" : ""}`}
                onClick={() => setTab(id)}
              >
                {label}
              </button>
            ))}
          </div>
          <div className="side__content">
            {tab === "node" ? (
              selected && !/^\d+$/.test(selected) ? (
                <ConfigPanel nodeId={selected} context={formContext} />
              ) : (
                <div className="panel-section muted small">
                  {selected
                    ? `${selected} nodes selected.`
                    : narrow
                      ? "Select a node to configure it. Add one with “Add node” in the toolbar; drag from a port to another to connect."
                      : "Select a node to configure it. Drag one from the palette (or click it) to add it; drag from a port to another to connect."}
                </div>
              )
            ) : null}
            {tab === "problems" ? <ProblemsPanel /> : null}
            {tab === "flow" ? <FlowPanel toolKinds={orgTools.data ? toolKinds : null} /> : null}
            {tab === "versions" ? (
              <VersionsPanel
                orgId={orgId}
                flowId={flow.id}
                saveNow={saveNow}
                onRestored={onRestored}
                onPublishedChange={setPublished}
                focusVersion={focusVersion}
              />
            ) : null}
            <div hidden={tab !== "run"}>
              <RunPanel orgId={orgId} run={run} versions={versions.data ?? []} saveNow={saveNow} />
            </div>
          </div>
        </aside>
      </div>
      {refusal ? <Refusal key={refusal.at} message={refusal.message} /> : null}
    </div>
  );
}

function Refusal({ message }: { message: string }) {
  const [visible, setVisible] = useState(true);
  useEffect(() => {
    const timer = setTimeout(() => setVisible(false), 6000);
    return () => clearTimeout(timer);
  }, []);
  if (!visible) return null;
  return (
    <div className="toast toast--error" role="alert" data-testid="connection-refused">
      Connection refused: {message}
    </div>
  );
}
