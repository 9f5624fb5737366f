/**
 * The one node view: title, ports as handles, live run state, issues, diff highlight. Zoomed out
 * below COMPACT_ZOOM it turns compact: a large title and no port names, so it stays readable.
 */
import { Handle, Position, useStore, useUpdateNodeInternals, type NodeProps, type ReactFlowState } from "@xyflow/react";
import { memo, useEffect } from "react";
import { useEditor } from "./context";
import { catalogKey, staticPorts, type CanvasNode } from "./graph";
import { NodeIcon } from "./nodeIcons";
import { COMPACT_ZOOM } from "./viewport";

const zoomedOut = (s: ReactFlowState) => s.transform[2] < COMPACT_ZOOM;

const STATUS_LABEL = { running: "Running", done: "Done", skipped: "Skipped", failed: "Failed" } as const;

function FlowNodeView({ id, data, selected }: NodeProps<CanvasNode>) {
  const nodeType = useEditor((s) => s.types[catalogKey(data.type, data.version)]);
  const resolved = useEditor((s) => s.ports[id]);
  const run = useEditor((s) => s.runs[id]);
  const issues = useEditor((s) => s.issueIndex.nodes[id]);
  const change = useEditor((s) => s.highlights?.nodes[id]);
  const ports = resolved ?? staticPorts(nodeType);
  const inputs = Object.entries(ports.inputs);
  const outputs = Object.entries(ports.outputs);
  const compact = useStore(zoomedOut);
  const updateInternals = useUpdateNodeInternals();
  const portKey = `${inputs.map(([n]) => n).join(",")}|${outputs.map(([n]) => n).join(",")}`;

  useEffect(() => updateInternals(id), [id, portKey, compact, updateInternals]);

  const classes = ["fnode"];
  if (compact) classes.push("fnode--compact");
  if (selected) classes.push("fnode--selected");
  if (run) classes.push(`fnode--${run.status}`);
  if (issues?.length) classes.push("fnode--invalid");
  if (change) classes.push(`fnode--${change}`);
  const rows = Math.max(inputs.length, outputs.length);

  return (
    <div
      className={classes.join(" ")}
      data-testid={`node-${id}`}
      data-node-type={data.type}
      data-status={run?.status ?? ""}
      data-change={change ?? ""}
      data-issues={issues?.length ?? 0}
      data-compact={compact}
    >
      <div className="fnode__header">
        <span className={`fnode__icon fnode__icon--${nodeType?.category ?? "logic"}`}>
          <NodeIcon name={nodeType?.icon ?? "box"} size={14} />
        </span>
        {/* Compact, the icon tells the type and the title tells nodes apart: the label, else the id. */}
        <span className="fnode__title" title={`${data.label || nodeType?.title || data.type} (${id})`}>
          {compact ? data.label || id : data.label || nodeType?.title || data.type}
        </span>
        {issues?.length ? (
          // A badge in the header, not a banner: a problem appearing must not move the ports.
          <span className="fnode__issues" title={issues.map((i) => i.message).join("\n")} aria-label={`${issues.length} problem(s)`}>
            {issues.length}
          </span>
        ) : null}
        {run ? (
          <span className={`fnode__status fnode__status--${run.status}`} title={run.error?.message}>
            {STATUS_LABEL[run.status]}
          </span>
        ) : null}
      </div>
      <div className="fnode__id">{id}</div>
      <div className="fnode__ports" style={{ minHeight: rows * 22 }}>
        <div className="fnode__col">
          {inputs.map(([name, port]) => (
            <div className="fnode__port fnode__port--in" key={name} title={`${name}: ${port.type}${port.description ? ` — ${port.description}` : ""}`}>
              <Handle type="target" position={Position.Left} id={name} className={`handle handle--${port.type}`} />
              <span>
                {name}
                {port.required ? "" : "?"}
              </span>
            </div>
          ))}
        </div>
        <div className="fnode__col fnode__col--out">
          {outputs.map(([name, port]) => (
            <div className="fnode__port fnode__port--out" key={name} title={`${name}: ${port.type}${port.description ? ` — ${port.description}` : ""}`}>
              <span>{name}</span>
              <Handle type="source" position={Position.Right} id={name} className={`handle handle--${port.type}`} />
            </div>
          ))}
        </div>
      </div>
      {run?.latencyMs !== undefined ? (
        <div className="fnode__footer">
          {Math.round(run.latencyMs)} ms{run.tokens ? ` · ${run.tokens.output} tok` : ""}
        </div>
      ) : null}
    </div>
  );
}

export const FlowNode = memo(FlowNodeView);
