/** Integrations: the organization's secrets, variables, MCP servers and OpenAPI tool sets. */
import { useState, type FormEvent, type ReactNode } from "react";
import { formatRelative } from "../lib/format";
import { canManage, roleAtLeast } from "../lib/roles";
import { useCurrentOrg } from "../shell/session";
import { Badge } from "../ui/Badge";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { CopyButton } from "../ui/CopyButton";
import { Field } from "../ui/Field";
import { EmptyState, ErrorState, FormError, LoadingState } from "../ui/feedback";
import { KeyIcon } from "../ui/icons";
import { PageHeader } from "../ui/PageHeader";
import { Tabs } from "../ui/Tabs";
import {
  authOf,
  type AuthConfig,
  type McpServer,
  type ToolSet,
  useAddSecret,
  useConnectMcp,
  useDeleteMcp,
  useDeleteSecret,
  useDeleteToolSet,
  useDeleteVariable,
  useImportToolSet,
  useMcpServers,
  useRefreshMcp,
  useReplaceSecret,
  useSecrets,
  useSetVariable,
  useToolSets,
  useUpdateMcp,
  useUpdateToolSet,
  useVariables,
} from "./api";
import "./integrations.css";

const TABS = [
  ["secrets", "Secrets"],
  ["variables", "Variables"],
  ["mcp", "MCP servers"],
  ["openapi", "OpenAPI tools"],
] as const;
type Tab = (typeof TABS)[number][0];

export function IntegrationsPage() {
  const [tab, setTab] = useState<Tab>("secrets");
  return (
    <div className="page integrations-page">
      <PageHeader
        title="Integrations"
        description="What flows use to reach your systems: secrets and variables, MCP servers and APIs described by OpenAPI."
      />
      <Tabs tabs={TABS} value={tab} onChange={setTab} label="Integrations" block="integrations-tabs" />
      <div role="tabpanel" aria-label={TABS.find(([id]) => id === tab)?.[1]}>
        {tab === "secrets" ? <SecretsTab /> : null}
        {tab === "variables" ? <VariablesTab /> : null}
        {tab === "mcp" ? <McpTab /> : null}
        {tab === "openapi" ? <OpenApiTab /> : null}
      </div>
    </div>
  );
}

function Reference({ text }: { text: string }) {
  return (
    <span className="integrations-ref">
      <code className="mono">{text}</code> <CopyButton value={text} label="Copy" />
    </span>
  );
}

function SecretsTab() {
  const org = useCurrentOrg();
  const admin = canManage(org.role);
  const secrets = useSecrets(org.id);
  const add = useAddSecret(org.id);
  const replace = useReplaceSecret(org.id);
  const remove = useDeleteSecret(org.id);
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [replacing, setReplacing] = useState<{ id: string; name: string } | null>(null);
  const [newValue, setNewValue] = useState("");
  const [deleting, setDeleting] = useState<{ id: string; name: string } | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      await add.mutateAsync({ name, value });
      setName("");
      setValue("");
    } catch {
      // shown by FormError
    }
  }

  if (secrets.isPending) return <LoadingState label="Loading secrets…" />;
  if (secrets.isError) return <ErrorState error={secrets.error} onRetry={() => void secrets.refetch()} />;
  return (
    <>
      <p className="muted">
        A secret's value is encrypted and never shown again, exported or stored in a run. Flows refer to it by name, e.g. in
        an HTTP request's auth: <code>{"{{secrets.NAME}}"}</code>.
      </p>
      {secrets.data.length === 0 ? (
        <EmptyState icon={<KeyIcon size={24} />} title="No secrets yet">
          {admin ? "Add the API keys and tokens your flows need below." : "Admins add secrets; ask one of them."}
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table" aria-label="Secrets">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Use as</th>
                <th scope="col">Changed</th>
                <th scope="col" className="table__actions">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {secrets.data.map((secret) => (
                <tr key={secret.id}>
                  <td className="cell-user__name">{secret.name}</td>
                  <td>
                    <Reference text={secret.reference} />
                  </td>
                  <td className="nowrap">{formatRelative(secret.updated_at)}</td>
                  <td className="table__actions nowrap">
                    {admin ? (
                      <>
                        <button type="button" className="btn btn--ghost btn--sm" onClick={() => setReplacing(secret)}>
                          Replace value
                        </button>{" "}
                        <button
                          type="button"
                          className="btn btn--danger-ghost btn--sm"
                          aria-label={`Delete ${secret.name}`}
                          onClick={() => setDeleting(secret)}
                        >
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
      {admin ? (
        <form className="card integrations-form" onSubmit={(e) => void submit(e)} aria-label="Add a secret">
          <div className="card__body form">
            <h2 className="section__title">Add a secret</h2>
            <div className="integrations-row">
              <Field label="Name" hint="Letters, digits and _, e.g. CRM_API_KEY">
                <input className="input" value={name} onChange={(e) => setName(e.target.value)} required />
              </Field>
              <Field label="Value" hint="Write-only: nobody can read it back">
                <input
                  className="input"
                  type="password"
                  autoComplete="off"
                  value={value}
                  onChange={(e) => setValue(e.target.value)}
                  required
                />
              </Field>
            </div>
            <FormError error={add.error} />
            <div className="form-actions">
              <button type="submit" className="btn btn--primary" disabled={add.isPending}>
                {add.isPending ? "Saving…" : "Add secret"}
              </button>
            </div>
          </div>
        </form>
      ) : null}
      {replacing ? (
        <ConfirmDialog
          title={`Replace ${replacing.name}`}
          confirmLabel="Replace"
          pending={replace.isPending}
          error={replace.error}
          onCancel={() => {
            setReplacing(null);
            setNewValue("");
            replace.reset();
          }}
          onConfirm={async () => {
            try {
              await replace.mutateAsync({ id: replacing.id, value: newValue });
              setReplacing(null);
              setNewValue("");
            } catch {
              // shown in the dialog
            }
          }}
        >
          <Field label="New value">
            <input className="input" type="password" value={newValue} onChange={(e) => setNewValue(e.target.value)} />
          </Field>
        </ConfirmDialog>
      ) : null}
      {deleting ? (
        <ConfirmDialog
          title="Delete secret"
          confirmLabel="Delete"
          pending={remove.isPending}
          error={remove.error}
          onCancel={() => setDeleting(null)}
          onConfirm={async () => {
            try {
              await remove.mutateAsync(deleting.id);
              setDeleting(null);
            } catch {
              // shown in the dialog
            }
          }}
        >
          Delete <strong>{deleting.name}</strong>? Flows that use it fail to start until a secret with that name is added again.
        </ConfirmDialog>
      ) : null}
    </>
  );
}

function VariablesTab() {
  const org = useCurrentOrg();
  const editor = roleAtLeast(org.role, "editor");
  const variables = useVariables(org.id);
  const set = useSetVariable(org.id);
  const remove = useDeleteVariable(org.id);
  const [name, setName] = useState("");
  const [value, setValue] = useState("");

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      await set.mutateAsync({ name, value });
      setName("");
      setValue("");
    } catch {
      // shown by FormError
    }
  }

  if (variables.isPending) return <LoadingState label="Loading variables…" />;
  if (variables.isError) return <ErrorState error={variables.error} onRetry={() => void variables.refetch()} />;
  return (
    <>
      <p className="muted">
        Plain settings shared by flows (a region, a base URL, a team name), used as <code>{"{{vars.NAME}}"}</code>. Values
        are visible to every member: put credentials in secrets.
      </p>
      {variables.data.length === 0 ? (
        <EmptyState title="No variables yet">{editor ? "Add one below." : "Editors add variables."}</EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table" aria-label="Variables">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Value</th>
                <th scope="col">Use as</th>
                <th scope="col" className="table__actions">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {variables.data.map((variable) => (
                <tr key={variable.id}>
                  <td className="cell-user__name">{variable.name}</td>
                  <td className="integrations-value">{variable.value}</td>
                  <td>
                    <Reference text={variable.reference} />
                  </td>
                  <td className="table__actions">
                    {editor ? (
                      <button
                        type="button"
                        className="btn btn--danger-ghost btn--sm"
                        aria-label={`Delete ${variable.name}`}
                        disabled={remove.isPending}
                        onClick={() => remove.mutate(variable.id)}
                      >
                        Delete
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <FormError error={remove.error} />
      {editor ? (
        <form className="card integrations-form" onSubmit={(e) => void submit(e)} aria-label="Set a variable">
          <div className="card__body form">
            <h2 className="section__title">Set a variable</h2>
            <div className="integrations-row">
              <Field label="Name">
                <input className="input" value={name} onChange={(e) => setName(e.target.value)} required />
              </Field>
              <Field label="Value" hint="Setting an existing name replaces its value">
                <input className="input" value={value} onChange={(e) => setValue(e.target.value)} />
              </Field>
            </div>
            <FormError error={set.error} />
            <div className="form-actions">
              <button type="submit" className="btn btn--primary" disabled={set.isPending}>
                {set.isPending ? "Saving…" : "Save variable"}
              </button>
            </div>
          </div>
        </form>
      ) : null}
    </>
  );
}

/** The auth part of a form: a type and the secret it uses (by name, never by value). */
function AuthFields({
  auth,
  onChange,
}: {
  auth: { type: AuthConfig["type"]; secret: string; header: string; username: string };
  onChange: (auth: { type: AuthConfig["type"]; secret: string; header: string; username: string }) => void;
}) {
  const org = useCurrentOrg();
  const secrets = useSecrets(org.id);
  return (
    <div className="integrations-row">
      <Field label="Authentication">
        <select
          className="select"
          value={auth.type}
          onChange={(e) => onChange({ ...auth, type: e.target.value as AuthConfig["type"] })}
        >
          <option value="none">None</option>
          <option value="bearer">Bearer token</option>
          <option value="api_key">API key header</option>
          <option value="basic">Basic (user + password)</option>
        </select>
      </Field>
      {auth.type !== "none" ? (
        <Field
          label={auth.type === "basic" ? "Password secret" : "Secret"}
          hint={secrets.data?.length === 0 ? "Add a secret on the Secrets tab first" : undefined}
        >
          <select className="select" value={auth.secret} onChange={(e) => onChange({ ...auth, secret: e.target.value })}>
            <option value="">Choose a secret…</option>
            {(secrets.data ?? []).map((s) => (
              <option key={s.id} value={s.name}>
                {s.name}
              </option>
            ))}
          </select>
        </Field>
      ) : null}
      {auth.type === "api_key" ? (
        <Field label="Header">
          <input className="input" value={auth.header} onChange={(e) => onChange({ ...auth, header: e.target.value })} />
        </Field>
      ) : null}
      {auth.type === "basic" ? (
        <Field label="User name">
          <input className="input" value={auth.username} onChange={(e) => onChange({ ...auth, username: e.target.value })} />
        </Field>
      ) : null}
    </div>
  );
}

const NO_AUTH = { type: "none" as AuthConfig["type"], secret: "", header: "X-API-Key", username: "" };

function McpTab() {
  const org = useCurrentOrg();
  const editor = roleAtLeast(org.role, "editor");
  const servers = useMcpServers(org.id);
  const connect = useConnectMcp(org.id);
  const [name, setName] = useState("");
  const [url, setUrl] = useState("");
  const [transport, setTransport] = useState<"streamable_http" | "sse">("streamable_http");
  const [auth, setAuth] = useState(NO_AUTH);

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      await connect.mutateAsync({ name, url, transport, auth: authOf(auth.type, auth.secret, auth) });
      setName("");
      setUrl("");
      setAuth(NO_AUTH);
    } catch {
      // shown by FormError
    }
  }

  if (servers.isPending) return <LoadingState label="Loading MCP servers…" />;
  if (servers.isError) return <ErrorState error={servers.error} onRetry={() => void servers.refetch()} />;
  return (
    <>
      <p className="muted">
        Remote MCP servers (streamable HTTP or SSE). Their tools appear in the tool-call and agent nodes as{" "}
        <code>server__tool</code>; turn off the ones flows must not call.
      </p>
      {servers.data.length === 0 ? (
        <EmptyState title="No MCP server connected">{editor ? "Connect one below." : "Editors connect MCP servers."}</EmptyState>
      ) : (
        servers.data.map((server) => <McpServerCard key={server.id} server={server} editor={editor} />)
      )}
      {editor ? (
        <form className="card integrations-form" onSubmit={(e) => void submit(e)} aria-label="Connect an MCP server">
          <div className="card__body form">
            <h2 className="section__title">Connect an MCP server</h2>
            <div className="integrations-row">
              <Field label="Name" hint="Lower-case, e.g. crm">
                <input className="input" value={name} onChange={(e) => setName(e.target.value)} required />
              </Field>
              <Field label="URL" hint="e.g. https://mcp.example.com/mcp">
                <input className="input" type="url" value={url} onChange={(e) => setUrl(e.target.value)} required />
              </Field>
              <Field label="Transport">
                <select
                  className="select"
                  value={transport}
                  onChange={(e) => setTransport(e.target.value as "streamable_http" | "sse")}
                >
                  <option value="streamable_http">Streamable HTTP</option>
                  <option value="sse">SSE</option>
                </select>
              </Field>
            </div>
            <AuthFields auth={auth} onChange={setAuth} />
            <FormError error={connect.error} />
            <div className="form-actions">
              <button type="submit" className="btn btn--primary" disabled={connect.isPending}>
                {connect.isPending ? "Connecting and listing its tools…" : "Connect"}
              </button>
            </div>
          </div>
        </form>
      ) : null}
    </>
  );
}

function McpServerCard({ server, editor }: { server: McpServer; editor: boolean }) {
  const org = useCurrentOrg();
  const update = useUpdateMcp(org.id);
  const refresh = useRefreshMcp(org.id);
  const remove = useDeleteMcp(org.id);
  const toggle = (tool: string, enabled: boolean) => {
    const disabled = new Set(server.disabled_tools as string[]);
    if (enabled) disabled.delete(tool);
    else disabled.add(tool);
    update.mutate({ id: server.id, disabled_tools: [...disabled] });
  };
  return (
    <section className="card integrations-card" aria-label={`MCP server ${server.name}`}>
      <div className="card__body">
        <div className="integrations-card__head">
          <h3 className="section__title">
            {server.name} <Badge>{server.transport === "sse" ? "SSE" : "Streamable HTTP"}</Badge>{" "}
            {server.last_error ? <Badge tone="danger">Not reachable</Badge> : <Badge tone="success">{server.tools.length} tools</Badge>}
          </h3>
          {editor ? (
            <span className="nowrap">
              <button type="button" className="btn btn--ghost btn--sm" disabled={refresh.isPending} onClick={() => refresh.mutate(server.id)}>
                {refresh.isPending ? "Listing…" : "Refresh tools"}
              </button>{" "}
              <button type="button" className="btn btn--danger-ghost btn--sm" onClick={() => remove.mutate(server.id)}>
                Remove
              </button>
            </span>
          ) : null}
        </div>
        <p className="muted integrations-value">{server.url}</p>
        {server.last_error ? <p className="form-error">{server.last_error}</p> : null}
        <FormError error={update.error ?? refresh.error ?? remove.error} />
        <ToolList
          items={server.tools.map((tool) => ({ key: tool.name, label: tool.tool, detail: tool.description, enabled: tool.enabled }))}
          editable={editor}
          onToggle={toggle}
        />
      </div>
    </section>
  );
}

function ToolList({
  items,
  editable,
  onToggle,
}: {
  items: { key: string; label: string; detail: ReactNode; enabled: boolean }[];
  editable: boolean;
  onToggle: (key: string, enabled: boolean) => void;
}) {
  if (items.length === 0) return <p className="muted">No tools listed.</p>;
  return (
    <ul className="integrations-tools">
      {items.map((item) => (
        <li key={item.key}>
          <label>
            <input
              type="checkbox"
              checked={item.enabled}
              disabled={!editable}
              aria-label={`${item.label} enabled`}
              onChange={(e) => onToggle(item.key, e.target.checked)}
            />{" "}
            <code className="mono">{item.label}</code>
          </label>{" "}
          <span className="muted">{item.detail}</span>
        </li>
      ))}
    </ul>
  );
}

function OpenApiTab() {
  const org = useCurrentOrg();
  const editor = roleAtLeast(org.role, "editor");
  const sets = useToolSets(org.id);
  const importSet = useImportToolSet(org.id);
  const [name, setName] = useState("");
  const [url, setUrl] = useState("");
  const [document, setDocument] = useState("");
  const [baseUrl, setBaseUrl] = useState("");
  const [auth, setAuth] = useState(NO_AUTH);

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      await importSet.mutateAsync({
        name,
        ...(document ? { document } : { url }),
        ...(baseUrl ? { base_url: baseUrl } : {}),
        auth: authOf(auth.type, auth.secret, auth),
      });
      setName("");
      setUrl("");
      setDocument("");
      setBaseUrl("");
      setAuth(NO_AUTH);
    } catch {
      // shown by FormError
    }
  }

  if (sets.isPending) return <LoadingState label="Loading tool sets…" />;
  if (sets.isError) return <ErrorState error={sets.error} onRetry={() => void sets.refetch()} />;
  return (
    <>
      <p className="muted">
        An OpenAPI 3 document becomes one tool per operation, named <code>set__operationId</code>, sent with the auth you
        choose. Turn on only the operations flows should call.
      </p>
      {sets.data.length === 0 ? (
        <EmptyState title="No OpenAPI tools yet">{editor ? "Import a document below." : "Editors import OpenAPI documents."}</EmptyState>
      ) : (
        sets.data.map((set) => <ToolSetCard key={set.id} toolSet={set} editor={editor} />)
      )}
      {editor ? (
        <form className="card integrations-form" onSubmit={(e) => void submit(e)} aria-label="Import an OpenAPI document">
          <div className="card__body form">
            <h2 className="section__title">Import an OpenAPI document</h2>
            <div className="integrations-row">
              <Field label="Name" hint="Lower-case, e.g. orders">
                <input className="input" value={name} onChange={(e) => setName(e.target.value)} required />
              </Field>
              <Field label="Document URL" hint="Or upload the file">
                <input className="input" type="url" value={url} onChange={(e) => setUrl(e.target.value)} disabled={Boolean(document)} />
              </Field>
              <Field label="File (JSON or YAML)">
                <input
                  className="input"
                  type="file"
                  accept=".json,.yaml,.yml,application/json"
                  onChange={(e) => {
                    const file = e.target.files?.[0];
                    if (file) void file.text().then(setDocument);
                    else setDocument("");
                  }}
                />
              </Field>
              <Field label="Base URL" hint="Only when the document names no server">
                <input className="input" type="url" value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} />
              </Field>
            </div>
            <AuthFields auth={auth} onChange={setAuth} />
            <FormError error={importSet.error} />
            <div className="form-actions">
              <button type="submit" className="btn btn--primary" disabled={importSet.isPending || (!url && !document)}>
                {importSet.isPending ? "Importing…" : "Import"}
              </button>
            </div>
          </div>
        </form>
      ) : null}
    </>
  );
}

function ToolSetCard({ toolSet, editor }: { toolSet: ToolSet; editor: boolean }) {
  const org = useCurrentOrg();
  const update = useUpdateToolSet(org.id);
  const remove = useDeleteToolSet(org.id);
  const toggle = (operation: string, enabled: boolean) => {
    const chosen = new Set(toolSet.enabled_operations as string[]);
    if (enabled) chosen.add(operation);
    else chosen.delete(operation);
    update.mutate({ id: toolSet.id, enabled_operations: [...chosen] });
  };
  return (
    <section className="card integrations-card" aria-label={`Tool set ${toolSet.name}`}>
      <div className="card__body">
        <div className="integrations-card__head">
          <h3 className="section__title">
            {toolSet.name} {toolSet.title ? <span className="muted">{toolSet.title}</span> : null}
          </h3>
          {editor ? (
            <button type="button" className="btn btn--danger-ghost btn--sm" onClick={() => remove.mutate(toolSet.id)}>
              Remove
            </button>
          ) : null}
        </div>
        <p className="muted integrations-value">{toolSet.base_url}</p>
        <FormError error={update.error ?? remove.error} />
        <ToolList
          items={toolSet.operations.map((op) => ({
            key: op.operation_id,
            label: op.tool,
            detail: `${op.method} ${op.path}${op.summary ? ` — ${op.summary}` : ""}`,
            enabled: op.enabled,
          }))}
          editable={editor}
          onToggle={toggle}
        />
      </div>
    </section>
  );
}
