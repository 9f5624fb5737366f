/** Deployments: models Trellis serves with vLLM on this host (live status, start/stop/restart,
 * a log that follows), a dialog to deploy a stored model or a folder, and the model store. */
import { useEffect, useRef, useState, type FormEvent } from "react";
import { fieldErrors } from "../lib/forms";
import { formatDateTime } from "../lib/format";
import { Badge } from "../ui/Badge";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { Dialog } from "../ui/Dialog";
import { EmptyState, ErrorState, FormError, LoadingState } from "../ui/feedback";
import { Field } from "../ui/Field";
import { PlusIcon } from "../ui/icons";
import {
  fetchLog,
  statusTone,
  useCreateDeployment,
  useDeleteDeployment,
  useDeploymentAction,
  useDeployments,
  useImportModel,
  useDeleteStoredModel,
  useStoredModels,
  type StoredModel,
  type Deployment,
} from "./api";

const LOG_POLL_MS = 1500;
const TONE = { ok: "success", busy: "warning", bad: "danger", off: "neutral" } as const;

export function DeploymentsPanel(props: { orgId: string; isAdmin: boolean }) {
  const deployments = useDeployments(props.orgId);
  const remove = useDeleteDeployment(props.orgId);
  const [logOf, setLogOf] = useState<Deployment | null>(null);
  const [creating, setCreating] = useState(false);
  const [removing, setRemoving] = useState<Deployment | null>(null);

  const deployButton = props.isAdmin ? (
    <button type="button" className="btn btn--primary btn--sm" onClick={() => setCreating(true)}>
      <PlusIcon size={14} />
      Deploy a model
    </button>
  ) : null;

  return (
    <>
      <section aria-labelledby="deployments-title">
        <div className="section__header">
          <div>
            <h2 id="deployments-title" className="section__title">
              Deployments
            </h2>
            <p className="muted">Models served by vLLM on this host. Point an endpoint at one to use it in flows.</p>
          </div>
          {deployButton}
        </div>
        {deployments.isPending ? (
          <LoadingState label="Loading deployments…" />
        ) : deployments.isError ? (
          <ErrorState error={deployments.error} onRetry={() => void deployments.refetch()} />
        ) : deployments.data.length === 0 ? (
          <EmptyState title="No deployments" action={deployButton}>
            Deploy a model from the model store or a folder on this host; its status turns ready when it answers.
          </EmptyState>
        ) : (
          <div className="table-wrap">
            <table className="table" aria-label="Deployments">
              <thead>
                <tr>
                  <th scope="col">Status</th>
                  <th scope="col">Name</th>
                  <th scope="col">Served as</th>
                  <th scope="col">Address</th>
                  <th scope="col" className="table__actions">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {deployments.data.map((d) => (
                  <DeploymentRow
                    key={d.id}
                    orgId={props.orgId}
                    deployment={d}
                    canAct={props.isAdmin}
                    onLog={() => setLogOf(d)}
                    onRemove={() => setRemoving(d)}
                  />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {logOf && props.isAdmin ? <LogViewer orgId={props.orgId} deployment={logOf} onClose={() => setLogOf(null)} /> : null}
      <StoredModels orgId={props.orgId} isAdmin={props.isAdmin} />
      {creating ? (
        <DeployDialog orgId={props.orgId} taken={(deployments.data ?? []).map((d) => d.port)} onClose={() => setCreating(false)} />
      ) : null}
      {removing ? (
        <ConfirmDialog
          title={`Remove ${removing.name}`}
          confirmLabel="Remove"
          pending={remove.isPending}
          error={remove.error}
          onCancel={() => setRemoving(null)}
          onConfirm={async () => {
            try {
              await remove.mutateAsync(removing.id);
              setRemoving(null);
            } catch {
              // shown in the dialog
            }
          }}
        >
          Its process is stopped. Endpoints that point at it stop answering.
        </ConfirmDialog>
      ) : null}
    </>
  );
}

function DeploymentRow(props: {
  orgId: string;
  deployment: Deployment;
  canAct: boolean;
  onLog: () => void;
  onRemove: () => void;
}) {
  const { deployment: d } = props;
  const act = useDeploymentAction(props.orgId);
  const editable = props.canAct && !d.instance_owned;
  const status = d.status ?? "stopped";
  return (
    <tr>
      <td>
        <span className={`models-light models-light-${statusTone(status)}`} aria-hidden="true" />
        <Badge tone={TONE[statusTone(status)]}>{status}</Badge>
        {d.status_reason ? <div className="models-reason">{d.status_reason}</div> : null}
      </td>
      <td>
        {d.name}
        {d.instance_owned ? <span className="muted"> (instance)</span> : null}
      </td>
      <td>{d.served_name}</td>
      <td>
        <code className="mono">{d.base_url}</code>
      </td>
      <td className="table__actions models-actions">
        {editable
          ? (["start", "stop", "restart"] as const).map((action) => (
              <button
                key={action}
                type="button"
                className="btn btn--ghost btn--sm"
                disabled={act.isPending}
                onClick={() => act.mutate({ id: d.id, action })}
              >
                {action[0]!.toUpperCase() + action.slice(1)}
              </button>
            ))
          : null}
        {props.canAct ? (
          <button type="button" className="btn btn--ghost btn--sm" onClick={props.onLog}>
            Log
          </button>
        ) : null}
        {editable ? (
          <button type="button" className="btn btn--danger-ghost btn--sm" onClick={props.onRemove}>
            Remove
          </button>
        ) : null}
      </td>
    </tr>
  );
}

function LogViewer(props: { orgId: string; deployment: Deployment; onClose: () => void }) {
  const [text, setText] = useState("");
  const offset = useRef(0);
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => {
    let alive = true;
    offset.current = 0;
    setText("");
    const poll = async () => {
      try {
        const chunk = await fetchLog(props.orgId, props.deployment.id, offset.current);
        if (!alive) return;
        offset.current = chunk.offset;
        if (chunk.text) setText((old) => (old + chunk.text).slice(-200_000));
      } catch {
        /* the next poll tries again */
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), LOG_POLL_MS);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, [props.orgId, props.deployment.id]);
  useEffect(() => {
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [text]);
  return (
    <section className="models-log" aria-label={`Log of ${props.deployment.name}`}>
      <div className="section__header">
        <h3 className="section__title">Log of {props.deployment.name}</h3>
        <button type="button" className="btn btn--ghost btn--sm" onClick={props.onClose}>
          Close
        </button>
      </div>
      <pre ref={box}>{text || "(empty)"}</pre>
    </section>
  );
}

function DeployDialog(props: { orgId: string; taken: number[]; onClose: () => void }) {
  const create = useCreateDeployment(props.orgId);
  const stored = useStoredModels(props.orgId);
  const [name, setName] = useState("");
  const [source, setSource] = useState<string>("");
  const [folder, setFolder] = useState("");
  const [servedName, setServedName] = useState("");
  const [port, setPort] = useState("");
  const [engine, setEngine] = useState<Record<string, string>>({ max_model_len: "2048", dtype: "float32", optimization_level: "0", enforce_eager: "true" });
  const [engineProblem, setEngineProblem] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const args = engineArgs(engine);
    setEngineProblem(typeof args === "string" ? args : null);
    if (typeof args === "string") return;
    try {
      await create.mutateAsync({
        name: name.trim(),
        ...(source && source !== "folder" ? { stored_model: Number(source) } : { model_dir: folder.trim() }),
        served_name: servedName.trim(),
        port: port.trim() ? Number(port) : null,
        engine_args: args,
      });
      props.onClose();
    } catch {
      // shown in the form
    }
  }

  return (
    <Dialog title="Deploy a model" description="vLLM serves it on this host over the OpenAI protocol." onClose={props.onClose} dismissable={!create.isPending} size="md">
      <form className="form" onSubmit={submit} noValidate>
        <FormError error={create.error} />
        <Field label="Name" errors={fieldErrors(create.error, "name")} hint="Letters, digits and dashes.">
          <input className="input" value={name} onChange={(e) => setName(e.target.value)} maxLength={64} required />
        </Field>
        <Field label="Model" errors={[...fieldErrors(create.error, "stored_model"), ...fieldErrors(create.error, "model_dir")]}>
          <select className="select" value={source} onChange={(e) => setSource(e.target.value)}>
            <option value="">Choose…</option>
            {(stored.data ?? [])
              .filter((m) => m.status === "ready")
              .map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name} (stored)
                </option>
              ))}
            <option value="folder">A folder on this host…</option>
          </select>
        </Field>
        {source === "folder" ? (
          <Field label="Folder" hint="A model folder under TRELLIS_MODEL_DIRS (safetensors + config).">
            <input className="input" value={folder} onChange={(e) => setFolder(e.target.value)} spellCheck={false} />
          </Field>
        ) : null}
        <div className="form-row">
          <Field label="Served name" errors={fieldErrors(create.error, "served_name")} hint="The model name clients send; blank: the name.">
            <input className="input" value={servedName} onChange={(e) => setServedName(e.target.value)} />
          </Field>
          <Field label="Port" errors={fieldErrors(create.error, "port")} hint={`Blank: a free port is chosen (e.g. ${firstFree(props.taken)}).`}>
            <input className="input" type="number" min={1024} max={65535} placeholder="automatic" value={port} onChange={(e) => setPort(e.target.value)} />
          </Field>
        </div>
        <fieldset className="engine-args">
          <legend>Engine arguments</legend>
          {engineProblem ? (
            <p className="field__error" role="alert">
              {engineProblem}
            </p>
          ) : null}
          <ul className="field__errors">
            {fieldErrors(create.error, "engine_args").map((m) => (
              <li key={m}>{m}</li>
            ))}
          </ul>
          <div className="form-row form-row--3">
            {ENGINE_ARGS.map((arg) => (
              <Field key={arg.name} label={arg.label} hint={arg.help}>
                {arg.kind === "choice" ? (
                  <select className="select" value={engine[arg.name] ?? ""} onChange={(e) => setEngine({ ...engine, [arg.name]: e.target.value })}>
                    <option value="">default</option>
                    {arg.choices!.map((c) => (
                      <option key={c} value={c}>
                        {c}
                      </option>
                    ))}
                  </select>
                ) : arg.kind === "bool" ? (
                  <select className="select" value={engine[arg.name] ?? ""} onChange={(e) => setEngine({ ...engine, [arg.name]: e.target.value })}>
                    <option value="">default</option>
                    <option value="true">yes</option>
                    <option value="false">no</option>
                  </select>
                ) : (
                  <input
                    className="input"
                    type={arg.kind === "text" ? "text" : "number"}
                    min={arg.min}
                    max={arg.max}
                    step={arg.kind === "float" ? "any" : 1}
                    placeholder="default"
                    value={engine[arg.name] ?? ""}
                    onChange={(e) => setEngine({ ...engine, [arg.name]: e.target.value })}
                  />
                )}
              </Field>
            ))}
          </div>
        </fieldset>
        <div className="form-actions">
          <button type="button" className="btn btn--ghost" onClick={props.onClose} disabled={create.isPending}>
            Cancel
          </button>
          <button type="submit" className="btn btn--primary" disabled={create.isPending || !name.trim() || !source}>
            {create.isPending ? "Deploying…" : "Deploy"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

interface EngineArgSpec {
  name: string;
  label: string;
  kind: "int" | "float" | "bool" | "choice" | "text";
  help: string;
  min?: number;
  max?: number;
  choices?: string[];
}

/** The engine arguments a deployment may set (apps/serving/engine.py ENGINE_ARGS, which checks
 * them again): each with what it does, for people who do not know vLLM's flags. */
export const ENGINE_ARGS: EngineArgSpec[] = [
  { name: "max_model_len", label: "Context window (tokens)", kind: "int", min: 16, max: 1_048_576, help: "Prompt + answer tokens (--max-model-len). Smaller needs less memory." },
  { name: "dtype", label: "Number format", kind: "choice", choices: ["auto", "float32", "bfloat16", "float16"], help: "float32 on CPUs without bfloat16; auto on GPUs (--dtype)." },
  { name: "max_num_seqs", label: "Parallel answers", kind: "int", min: 1, max: 4096, help: "Requests served at once (--max-num-seqs)." },
  { name: "optimization_level", label: "Optimization (0–3)", kind: "int", min: 0, max: 3, help: "0 starts fastest (no compile warm-up); 3 runs fastest." },
  { name: "enforce_eager", label: "Eager mode", kind: "bool", help: "Skip graph capture: starts sooner, runs a little slower (--enforce-eager)." },
  { name: "tool_call_parser", label: "Tool-call parser", kind: "text", help: "For models that call tools, e.g. hermes or llama3_json (--tool-call-parser)." },
  { name: "gpu_memory_utilization", label: "GPU memory share", kind: "float", min: 0.05, max: 1, help: "GPU only: the share of GPU memory vLLM takes (0.05–1)." },
  { name: "tensor_parallel_size", label: "GPUs", kind: "int", min: 1, max: 64, help: "GPU only: GPUs one model is split across." },
];

/** The form's engine arguments as the API takes them, or a sentence saying what is wrong. */
export function engineArgs(values: Record<string, string>): Record<string, unknown> | string {
  const out: Record<string, unknown> = {};
  for (const arg of ENGINE_ARGS) {
    const raw = (values[arg.name] ?? "").trim();
    if (!raw) continue;
    if (arg.kind === "bool") out[arg.name] = raw === "true";
    else if (arg.kind === "choice" || arg.kind === "text") out[arg.name] = raw;
    else {
      const value = Number(raw);
      if (!Number.isFinite(value) || (arg.kind === "int" && !Number.isInteger(value))) return `${arg.label}: enter a ${arg.kind === "int" ? "whole " : ""}number.`;
      if ((arg.min != null && value < arg.min) || (arg.max != null && value > arg.max)) return `${arg.label}: between ${arg.min} and ${arg.max}.`;
      out[arg.name] = value;
    }
  }
  return out;
}

function firstFree(taken: number[]): number {
  let port = 8100;
  while (taken.includes(port)) port += 1;
  return port;
}

function StoredModels(props: { orgId: string; isAdmin: boolean }) {
  const stored = useStoredModels(props.orgId);
  const importModel = useImportModel(props.orgId);
  const remove = useDeleteStoredModel(props.orgId);
  const [name, setName] = useState("smollm2");
  const [origin, setOrigin] = useState("smollm2-gguf");

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      await importModel.mutateAsync({ name: name.trim(), origin: origin.trim() });
    } catch {
      // shown in the form
    }
  }

  return (
    <section aria-labelledby="stored-title">
      <div className="section__header">
        <h2 id="stored-title" className="section__title">
          Model store
        </h2>
      </div>
      {stored.isPending ? (
        <LoadingState label="Loading the model store…" />
      ) : stored.isError ? (
        <ErrorState error={stored.error} />
      ) : stored.data.length === 0 ? (
        <p className="muted">No stored models yet.</p>
      ) : (
        <div className="table-wrap">
          <table className="table" aria-label="Stored models">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Source</th>
                <th scope="col">Size</th>
                <th scope="col">Status</th>
                <th scope="col">Imported</th>
                {props.isAdmin ? (
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {stored.data.map((m) => (
                <tr key={m.id}>
                  <td>{m.name}</td>
                  <td className="muted">{m.source}</td>
                  <td className="nowrap">{m.size_bytes ? `${((m.size_bytes ?? 0) / 1e6).toFixed(0)} MB` : "—"}</td>
                  <td>
                    <ImportStatus model={m} />
                  </td>
                  <td className="nowrap">{formatDateTime(m.created_at)}</td>
                  {props.isAdmin ? (
                    <td>
                      <button
                        type="button"
                        className="btn btn--ghost btn--sm"
                        disabled={remove.isPending || m.status === "importing"}
                        aria-label={`Remove ${m.name}`}
                        onClick={() => remove.mutate(m.id)}
                      >
                        Remove
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <FormError error={remove.error} />
      {props.isAdmin ? (
        <form className="form store-import" onSubmit={submit} noValidate>
          <FormError error={importModel.error} />
          <div className="form-row">
            <Field label="Import as" errors={fieldErrors(importModel.error, "name")}>
              <input className="input" value={name} onChange={(e) => setName(e.target.value)} />
            </Field>
            <Field
              label="From"
              errors={fieldErrors(importModel.error, "origin")}
              hint="smollm2-gguf (the offline SmolLM2), or a folder under TRELLIS_MODEL_DIRS."
            >
              <input className="input" value={origin} onChange={(e) => setOrigin(e.target.value)} spellCheck={false} />
            </Field>
            <button type="submit" className="btn btn--secondary" disabled={importModel.isPending || !name.trim() || !origin.trim()}>
              {importModel.isPending ? "Starting…" : "Import"}
            </button>
          </div>
        </form>
      ) : null}
    </section>
  );
}

/** An import's state: a progress bar with the bytes copied while it runs (converting the offline
 * model first, when its size is not known yet), the reason when it failed. */
function ImportStatus(props: { model: StoredModel }) {
  const m = props.model;
  if (m.status === "failed") return <span title={m.status_reason}><Badge tone="danger">failed</Badge> <span className="muted">{m.status_reason}</span></span>;
  if (m.status !== "importing") return <Badge tone="success">ready</Badge>;
  const total = m.size_bytes ?? 0;
  const copied = m.copied_bytes ?? 0;
  const percent = total > 0 ? Math.min(100, Math.round((copied / total) * 100)) : null;
  return (
    <div className="import-progress">
      <div
        className="meter"
        role="progressbar"
        aria-label={`Importing ${m.name}`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent ?? undefined}
      >
        <div className="meter__bar" style={{ width: `${percent ?? 5}%` }} />
      </div>
      <span className="muted">
        {percent == null ? "Preparing…" : `${percent}% · ${(copied / 1e6).toFixed(0)} of ${(total / 1e6).toFixed(0)} MB`}
      </span>
    </div>
  );
}
