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
  useStoredModels,
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
  const [port, setPort] = useState(() => String(firstFree(props.taken)));
  const [maxLen, setMaxLen] = useState("2048");

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      await create.mutateAsync({
        name: name.trim(),
        ...(source && source !== "folder" ? { stored_model: Number(source) } : { model_dir: folder.trim() }),
        served_name: servedName.trim(),
        port: Number(port),
        engine_args: maxLen.trim() ? { max_model_len: Number(maxLen) } : {},
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
            {(stored.data ?? []).map((m) => (
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
          <Field label="Port" errors={fieldErrors(create.error, "port")} hint="A free port is suggested.">
            <input className="input" type="number" min={1024} max={65535} value={port} onChange={(e) => setPort(e.target.value)} />
          </Field>
          <Field label="Max model length" errors={fieldErrors(create.error, "engine_args")} hint="Context window in tokens (vLLM --max-model-len).">
            <input className="input" type="number" min={16} value={maxLen} onChange={(e) => setMaxLen(e.target.value)} />
          </Field>
        </div>
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

function firstFree(taken: number[]): number {
  let port = 8100;
  while (taken.includes(port)) port += 1;
  return port;
}

function StoredModels(props: { orgId: string; isAdmin: boolean }) {
  const stored = useStoredModels(props.orgId);
  const importModel = useImportModel(props.orgId);
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
                <th scope="col">Imported</th>
              </tr>
            </thead>
            <tbody>
              {stored.data.map((m) => (
                <tr key={m.id}>
                  <td>{m.name}</td>
                  <td className="muted">{m.source}</td>
                  <td className="nowrap">{((m.size_bytes ?? 0) / 1e6).toFixed(0)} MB</td>
                  <td className="nowrap">{formatDateTime(m.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
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
              {importModel.isPending ? "Importing…" : "Import"}
            </button>
          </div>
        </form>
      ) : null}
    </section>
  );
}
