/** The React Flow canvas, controlled by the editor store. */
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  useReactFlow,
  type Connection,
  type NodeTypes,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useState, type DragEvent } from "react";
import { useEditor, useEditorStoreApi } from "./context";
import { FlowNode } from "./FlowNode";
import type { CanvasEdge } from "./graph";
import { FIT_VIEW, useNarrow } from "./viewport";

export const PALETTE_MIME = "application/x-trellis-node";
const nodeTypes: NodeTypes = { trellis: FlowNode };

export function Canvas({ onNodeClick }: { onNodeClick?: () => void }) {
  const store = useEditorStoreApi();
  const nodes = useEditor((s) => s.nodes);
  const edges = useEditor((s) => s.edges);
  const edgeIssues = useEditor((s) => s.issueIndex.edges);
  const highlights = useEditor((s) => s.highlights);
  const runs = useEditor((s) => s.runs);
  const focus = useEditor((s) => s.focus);
  const readOnly = useEditor((s) => s.readOnly);
  const onNodesChange = useEditor((s) => s.onNodesChange);
  const onEdgesChange = useEditor((s) => s.onEdgesChange);
  const flow = useReactFlow();
  const narrow = useNarrow();
  // Fit on open only a flow that has nodes: React Flow keeps a queued fit until the first node is
  // measured, which would centre (and zoom to) the first node dropped on an empty canvas.
  const [fitOnOpen] = useState(() => store.getState().nodes.length > 0);

  const styledEdges = useMemo<CanvasEdge[]>(
    () =>
      edges.map((edge) => {
        const classes: string[] = [];
        if (edgeIssues[edge.id]?.length) classes.push("fedge--invalid");
        const change = highlights?.edges[edge.id];
        if (change) classes.push(`fedge--${change}`);
        const sourceRun = runs[edge.source];
        const animated = sourceRun?.status === "running";
        if (sourceRun?.status === "done" && runs[edge.target] && runs[edge.target]?.status !== "skipped") classes.push("fedge--taken");
        if (!classes.length && !animated) return edge;
        return { ...edge, className: classes.join(" "), animated };
      }),
    [edges, edgeIssues, highlights, runs],
  );

  const onConnect = useCallback((connection: Connection) => void store.getState().connect(connection), [store]);

  const onDragOver = useCallback((event: DragEvent) => {
    if (event.dataTransfer.types.includes(PALETTE_MIME)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    }
  }, []);

  const onDrop = useCallback(
    (event: DragEvent) => {
      const raw = event.dataTransfer.getData(PALETTE_MIME);
      if (!raw) return;
      event.preventDefault();
      const [type = "", version = "1"] = raw.split("@");
      const position = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
      store.getState().addNode(type, Number(version), { x: position.x - 90, y: position.y - 30 });
    },
    [flow, store],
  );

  useEffect(() => {
    if (!focus) return;
    const node = flow.getNode(focus.nodeId);
    if (!node) return;
    const width = node.measured?.width ?? 200;
    const height = node.measured?.height ?? 100;
    void flow.setCenter(node.position.x + width / 2, node.position.y + height / 2, { zoom: Math.max(flow.getZoom(), 1), duration: 300 });
  }, [focus, flow]);

  return (
    <div className="canvas" onDragOver={onDragOver} onDrop={onDrop} data-testid="canvas">
      <ReactFlow
        nodes={nodes}
        edges={styledEdges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        onNodeClick={onNodeClick}
        onNodeDragStart={() => store.getState().beginDrag()}
        onSelectionDragStart={() => store.getState().beginDrag()}
        nodesDraggable={!readOnly}
        nodesConnectable={!readOnly}
        deleteKeyCode={null}
        multiSelectionKeyCode={["Shift", "Meta", "Control"]}
        selectionKeyCode="Shift"
        fitView={fitOnOpen}
        onInit={(instance) => {
          if (fitOnOpen) setTimeout(() => void instance.fitView(FIT_VIEW), 50);
        }}
        fitViewOptions={FIT_VIEW}
        minZoom={0.1}
        onlyRenderVisibleElements={nodes.length > 150}
        proOptions={{ hideAttribution: true }}
      >
        <Background gap={16} size={1} />
        <Controls showInteractive={false} fitViewOptions={FIT_VIEW} />
        {narrow ? null : <MiniMap pannable zoomable ariaLabel="Minimap" />}
      </ReactFlow>
    </div>
  );
}
