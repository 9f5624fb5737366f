/** The selected node: label, config form from its JSON Schema, ports, and its last run. */
import { useMemo } from "react";
import { useEditor } from "./context";
import { catalogKey, issueField } from "./graph";
import { SchemaForm, type FormContext } from "./SchemaForm";
import type { JsonSchema } from "./schema";
import type { NodeRun } from "./store";

export function ConfigPanel({ nodeId, context }: { nodeId: string; context: Omit<FormContext, "upstream"> }) {
  const node = useEditor((s) => s.nodes.find((n) => n.id === nodeId));
  const nodeType = useEditor((s) => (node ? s.types[catalogKey(node.data.type, node.data.version)] : undefined));
  const issues = useEditor((s) => s.issueIndex.nodes[nodeId]);
  const run = useEditor((s) => s.runs[nodeId]);
  const edges = useEditor((s) => s.edges);
  const updateConfig = useEditor((s) => s.updateConfig);
  const setLabel = useEditor((s) => s.setLabel);
  const ports = useEditor((s) => s.portsOf);

  const upstream = useMemo(() => {
    const names = new Set<string>();
    for (const edge of edges) if (edge.target === nodeId && edge.targetHandle) names.add(edge.targetHandle);
    return [...names];
  }, [edges, nodeId]);

  const serverErrors = useMemo(() => {
    const byField: Record<string, string[]> = {};
    for (const issue of issues ?? []) {
      const field = issueField(issue);
      if (field) (byField[field] ??= []).push(issue.message);
    }
    return byField;
  }, [issues]);

  if (!node) return null;
  const otherIssues = (issues ?? []).filter((i) => !issueField(i));
  const resolved = ports(nodeId);

  return (
    <div className="panel-section" data-testid="config-panel">
      <header className="panel-section__header">
        <h2 className="panel-title">{nodeType?.title ?? node.data.type}</h2>
        <code className="muted">{node.id}</code>
      </header>
      {nodeType ? <p className="muted small">{nodeType.description}</p> : <p className="form-error">Unknown node type {node.data.type}.</p>}
      <div className="field">
        <label className="field__label" htmlFor={`label-${node.id}`}>
          Label
        </label>
        <input
          id={`label-${node.id}`}
          className="input"
          value={node.data.label ?? ""}
          placeholder={nodeType?.title}
          disabled={context.readOnly}
          maxLength={120}
          onChange={(e) => setLabel(node.id, e.target.value || null)}
        />
      </div>
      {otherIssues.length ? (
        <ul className="issue-list issue-list--inline">
          {otherIssues.map((issue) => (
            <li key={`${issue.code}-${issue.pointer}`}>{issue.message}</li>
          ))}
        </ul>
      ) : null}
      {nodeType ? (
        <SchemaForm
          schema={nodeType.config_schema as JsonSchema}
          value={node.data.config}
          onChange={(config) => updateConfig(node.id, config)}
          serverErrors={serverErrors}
          context={{ ...context, upstream }}
        />
      ) : null}
      {resolved ? (
        <details className="ports-info">
          <summary>Ports</summary>
          <PortTable title="Inputs" ports={resolved.inputs} />
          <PortTable title="Outputs" ports={resolved.outputs} />
        </details>
      ) : null}
      {run ? <RunPreview run={run} /> : null}
    </div>
  );
}

function PortTable({ title, ports }: { title: string; ports: Record<string, { type: string; required: boolean; description: string }> }) {
  const entries = Object.entries(ports);
  return (
    <div>
      <h4>{title}</h4>
      {entries.length ? (
        <ul className="small">
          {entries.map(([name, port]) => (
            <li key={name}>
              <code>{name}</code> {port.type}
              {port.required ? "" : " (optional)"} {port.description ? `— ${port.description}` : ""}
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted small">None</p>
      )}
    </div>
  );
}

function show(value: unknown): string {
  if (value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

export function RunPreview({ run }: { run: NodeRun }) {
  return (
    <section className="run-preview" data-testid="node-run-preview">
      <h3 className="panel-subtitle">
        Last run: <span className={`fnode__status fnode__status--${run.status}`}>{run.status}</span>
      </h3>
      <p className="small">
        {run.latencyMs !== undefined ? `${Math.round(run.latencyMs)} ms` : "—"}
        {run.tokens ? ` · ${run.tokens.input} in / ${run.tokens.output} out tokens` : ""}
      </p>
      {run.error ? <p className="form-error">{run.error.message} ({run.error.code})</p> : null}
      <h4>Input</h4>
      <pre className="preview">{show(run.inputs)}</pre>
      <h4>Output</h4>
      <pre className="preview">{show(run.outputs ?? (run.text || undefined))}</pre>
    </section>
  );
}
