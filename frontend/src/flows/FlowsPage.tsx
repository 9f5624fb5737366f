/** Flows: list, search, create, duplicate, delete (confirmed), import a JSON file, export. */
import { useRef, useState, type ChangeEvent } from "react";
import { Link, useNavigate } from "react-router";
import { useCreateFlow, useDeleteFlow, useDuplicateFlow, useFlows, useImportFlow, exportFlow } from "../editor/api";
import type { FlowSummary } from "../editor/types";
import { errorMessage } from "../lib/errors";
import { formatRelative } from "../lib/format";
import { orgPath } from "../lib/routes";
import { roleAtLeast } from "../lib/roles";
import { useCurrentOrg } from "../shell/session";
import { Badge } from "../ui/Badge";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { Dialog } from "../ui/Dialog";
import { EmptyState, ErrorState, FormError, LoadingState } from "../ui/feedback";
import { Field } from "../ui/Field";
import { FlowsIcon, PlusIcon } from "../ui/icons";
import { PageHeader } from "../ui/PageHeader";
import "./flows.css";

export function FlowsPage() {
  const org = useCurrentOrg();
  const canEdit = roleAtLeast(org.role, "editor");
  const [search, setSearch] = useState("");
  const flows = useFlows(org.id, search.trim());
  const duplicate = useDuplicateFlow(org.id);
  const remove = useDeleteFlow(org.id);
  const importFlow = useImportFlow(org.id);
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<FlowSummary | null>(null);
  const [notice, setNotice] = useState<{ error: boolean; text: string } | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const navigate = useNavigate();

  const onImport = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    event.target.value = "";
    if (!file) return;
    let payload: unknown;
    try {
      payload = JSON.parse(await file.text());
    } catch {
      setNotice({ error: true, text: `${file.name} is not a JSON file.` });
      return;
    }
    try {
      const flow = await importFlow.mutateAsync(payload);
      setNotice({ error: false, text: `Imported “${flow.name}”.` });
    } catch (error) {
      setNotice({ error: true, text: `Import failed: ${errorMessage(error)}` });
    }
  };

  const onExport = async (flow: FlowSummary) => {
    try {
      const data = await exportFlow(org.id, flow.id);
      const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = `${flow.name.replace(/[^A-Za-z0-9_-]+/g, "-").toLowerCase() || "flow"}.trellis.json`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (error) {
      setNotice({ error: true, text: `Export failed: ${errorMessage(error)}` });
    }
  };

  const actions = canEdit ? (
    <>
      <button type="button" className="btn btn--secondary" onClick={() => fileInput.current?.click()} disabled={importFlow.isPending}>
        Import
      </button>
      <input ref={fileInput} type="file" accept="application/json,.json" hidden onChange={(e) => void onImport(e)} data-testid="import-file" />
      <button type="button" className="btn btn--primary" onClick={() => setCreating(true)}>
        <PlusIcon size={15} />
        New flow
      </button>
    </>
  ) : null;

  const list = flows.data?.results ?? [];
  return (
    <div className="page">
      <PageHeader title="Flows" description="Visual pipelines that turn a question into an answer." actions={actions} />
      <div className="toolbar-row">
        <input
          className="input"
          type="search"
          placeholder="Search flows"
          aria-label="Search flows"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          style={{ maxWidth: 320 }}
        />
      </div>
      {notice ? (
        <p className={notice.error ? "form-error" : "flows-notice flows-notice--ok"}
          data-testid="flows-notice" role={notice.error ? "alert" : "status"}>
          {notice.text}
        </p>
      ) : null}
      {flows.isPending ? (
        <LoadingState label="Loading flows…" />
      ) : flows.isError ? (
        <ErrorState error={flows.error} onRetry={() => void flows.refetch()} />
      ) : list.length === 0 && !search ? (
        <EmptyState
          icon={<FlowsIcon size={24} />}
          title="No flows yet"
          action={
            canEdit ? (
              <button type="button" className="btn btn--primary" onClick={() => setCreating(true)}>
                <PlusIcon size={15} />
                New flow
              </button>
            ) : undefined
          }
        >
          A flow is an LLM application drawn on a canvas: chat input, prompt templates, retrieval from your knowledge,
          branches, tool calls and model steps, wired together and run live with streamed tokens.
        </EmptyState>
      ) : list.length === 0 ? (
        <p className="muted">No flow matches “{search}”.</p>
      ) : (
        <div className="table-wrap">
          <table className="table" aria-label="Flows">
            <thead>
              <tr>
                <th>Name</th>
                <th>Published</th>
                <th>Updated</th>
                <th className="table__actions">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((flow) => (
                <tr key={flow.id}>
                  <td>
                    <Link to={orgPath(org.id, "flows", flow.id)}>
                      <strong>{flow.name}</strong>
                    </Link>
                    {flow.description ? <div className="muted flows-small">{flow.description}</div> : null}
                  </td>
                  <td>{flow.published_version ? <Badge tone="success">v{flow.published_version}</Badge> : <Badge>Draft</Badge>}</td>
                  <td className="nowrap">
                    {formatRelative(flow.updated_at)}
                    {flow.updated_by ? <span className="muted"> by {flow.updated_by}</span> : null}
                  </td>
                  <td className="table__actions nowrap">
                    <button type="button" className="btn btn--ghost btn--sm" onClick={() => void onExport(flow)} aria-label={`Export ${flow.name}`}>
                      Export
                    </button>
                    {canEdit ? (
                      <>
                        <button
                          type="button"
                          className="btn btn--ghost btn--sm"
                          aria-label={`Duplicate ${flow.name}`}
                          disabled={duplicate.isPending}
                          onClick={() =>
                            duplicate.mutate(flow.id, {
                              onSuccess: (copy) => setNotice({ error: false, text: `Created “${copy.name}”.` }),
                              onError: (error) => setNotice({ error: true, text: errorMessage(error) }),
                            })
                          }
                        >
                          Duplicate
                        </button>
                        <button type="button" className="btn btn--danger-ghost btn--sm" aria-label={`Delete ${flow.name}`} onClick={() => setDeleting(flow)}>
                          Delete
                        </button>
                      </>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {creating ? (
        <CreateFlowDialog
          orgId={org.id}
          onClose={() => setCreating(false)}
          onCreated={(id) => void navigate(orgPath(org.id, "flows", id))}
        />
      ) : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete “${deleting.name}”?`}
          confirmLabel="Delete flow"
          pending={remove.isPending}
          error={remove.error}
          onCancel={() => {
            setDeleting(null);
            remove.reset();
          }}
          onConfirm={() =>
            remove.mutate(deleting.id, {
              onSuccess: () => {
                setNotice({ error: false, text: `Deleted “${deleting.name}”.` });
                setDeleting(null);
              },
            })
          }
        >
          The flow, its draft and all its versions are deleted. Widgets that serve it stop answering.
        </ConfirmDialog>
      ) : null}
    </div>
  );
}

function CreateFlowDialog({ orgId, onClose, onCreated }: { orgId: string; onClose: () => void; onCreated: (id: string) => void }) {
  const create = useCreateFlow(orgId);
  const [name, setName] = useState("");
  const [empty, setEmpty] = useState(true);
  return (
    <Dialog title="New flow" onClose={onClose} dismissable={!create.isPending}>
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          const body = empty ? { name: name.trim(), graph: { nodes: [], edges: [] } } : { name: name.trim() };
          create.mutate(body, { onSuccess: (flow) => onCreated(flow.id) });
        }}
      >
        <div className="dialog__body">
          <Field label="Name" errors={(create.error as { fieldErrors?: (n: string) => string[] } | null)?.fieldErrors?.("name")}>
            <input className="input" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} required />
          </Field>
          <label className="flows-small" style={{ display: "flex", gap: 6, alignItems: "center", marginTop: 8 }}>
            <input type="checkbox" checked={!empty} onChange={(e) => setEmpty(!e.target.checked)} />
            Start from the chat template (chat input → prompt → LLM → output)
          </label>
        </div>
        <FormError error={create.error} />
        <footer className="dialog__footer">
          <button type="button" className="btn btn--ghost" onClick={onClose} disabled={create.isPending}>
            Cancel
          </button>
          <button type="submit" className="btn btn--primary" disabled={create.isPending || !name.trim()}>
            {create.isPending ? "Creating…" : "Create"}
          </button>
        </footer>
      </form>
    </Dialog>
  );
}
