/** Models: the organization's model endpoints (add, edit, test, remove; admins change them,
 * everyone reads), deployments and the model store, and usage (budget, spend, the call ledger). */
import { useState } from "react";
import { roleAtLeast } from "../lib/roles";
import { useCurrentOrg } from "../shell/session";
import { Badge } from "../ui/Badge";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { EmptyState, ErrorState, LoadingState } from "../ui/feedback";
import { ModelsIcon, PlusIcon } from "../ui/icons";
import { PageHeader } from "../ui/PageHeader";
import { Tabs } from "../ui/Tabs";
import { series, useDeleteEndpoint, useEndpoints, useModelStats, type Endpoint } from "./api";
import { DeploymentsPanel } from "./DeploymentsPanel";
import { EndpointDialog } from "./EndpointDialog";
import { formatCost, formatTokens } from "./presets";
import { TestPrompt } from "./TestPrompt";
import { UsagePanel } from "./UsagePanel";
import "./models.css";

type Tab = "endpoints" | "deployments" | "usage";
const TABS: [Tab, string][] = [
  ["endpoints", "Endpoints"],
  ["deployments", "Deployments"],
  ["usage", "Usage"],
];

function fallbackList(fallbacks: unknown): string[] {
  return Array.isArray(fallbacks) ? fallbacks.map(String) : [];
}

function host(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

export function ModelsPage() {
  const org = useCurrentOrg();
  const isAdmin = roleAtLeast(org.role, "admin");
  const endpoints = useEndpoints(org.id);
  const remove = useDeleteEndpoint(org.id);
  const [tab, setTab] = useState<Tab>("endpoints");
  const [editing, setEditing] = useState<Endpoint | "new" | null>(null);
  const [removing, setRemoving] = useState<Endpoint | null>(null);
  const [testing, setTesting] = useState<number | null>(null);
  const aliases = (endpoints.data ?? []).map((e) => e.alias);

  const addButton = isAdmin ? (
    <button type="button" className="btn btn--primary" onClick={() => setEditing("new")}>
      <PlusIcon size={15} />
      Add model
    </button>
  ) : null;

  return (
    <div className="page models-page">
      <PageHeader
        title="Models"
        description="The models your flows call by alias: any OpenAI-compatible provider or server, with fallbacks, budgets and a ledger."
        actions={tab === "endpoints" ? addButton : null}
      />
      <Tabs tabs={TABS} value={tab} onChange={setTab} label="Models" block="models-tabs" />

      {tab === "endpoints" ? (
        <div role="tabpanel" aria-label="Endpoints">
          {!isAdmin ? (
            <p className="muted models-note">
              {roleAtLeast(org.role, "editor")
                ? "Admins add and change models; you can read them and test them."
                : "Admins add and change models; editors test them; you can read them."}
            </p>
          ) : null}
          {endpoints.isPending ? (
            <LoadingState label="Loading models…" />
          ) : endpoints.isError ? (
            <ErrorState error={endpoints.error} onRetry={() => void endpoints.refetch()} />
          ) : endpoints.data.length === 0 ? (
            <EmptyState icon={<ModelsIcon size={24} />} title="No models yet" action={addButton}>
              Add a provider such as OpenAI or Mistral, or your own vLLM, Ollama or LM Studio server.
            </EmptyState>
          ) : (
            <div className="table-wrap">
              <table className="table models-endpoints" aria-label="Model endpoints">
                <thead>
                  <tr>
                    <th scope="col">Alias</th>
                    <th scope="col">Model</th>
                    <th scope="col">Capabilities</th>
                    <th scope="col">Context</th>
                    <th scope="col">Price / 1k in · out</th>
                    <th scope="col" className="table__actions">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {endpoints.data.map((e) => (
                    <tr key={e.id} data-alias={e.alias}>
                      <td>
                        <div className="cell-user__name">{e.alias}</div>
                        {e.name && e.name !== e.alias ? <div className="muted models-small">{e.name}</div> : null}
                        {fallbackList(e.fallbacks).length ? (
                          <div className="muted models-small">then {fallbackList(e.fallbacks).join(" → ")}</div>
                        ) : null}
                      </td>
                      <td>
                        <code className="mono">{e.model}</code>
                        <div className="muted models-small">
                          {e.deployment ? "deployment" : host(e.base_url)}
                          {e.has_api_key ? " · key set" : ""}
                        </div>
                      </td>
                      <td>
                        <div className="models-caps">
                          <Badge tone="brand">{e.kind === "embedding" ? "embeddings" : "chat"}</Badge>
                          {e.supports_tools ? <Badge>tools</Badge> : null}
                          {e.supports_json_mode ? <Badge>JSON</Badge> : null}
                          {e.supports_vision ? <Badge>vision</Badge> : null}
                          {e.cache_ttl_s ? <Badge tone="success">cached {e.cache_ttl_s}s</Badge> : null}
                        </div>
                      </td>
                      <td className="nowrap">{e.context_window ? formatTokens(e.context_window) : <span className="muted">unknown</span>}</td>
                      <td className="nowrap">
                        {formatCost(e.price_input_per_1k ?? 0)} · {formatCost(e.price_output_per_1k ?? 0)}
                      </td>
                      <td className="table__actions models-actions">
                        {e.kind !== "embedding" && roleAtLeast(org.role, "editor") ? (
                          <button type="button" className="btn btn--ghost btn--sm" aria-label={`Test ${e.alias}`} onClick={() => setTesting(e.id)}>
                            Test
                          </button>
                        ) : null}
                        {isAdmin ? (
                          <>
                            <button type="button" className="btn btn--ghost btn--sm" aria-label={`Edit ${e.alias}`} onClick={() => setEditing(e)}>
                              Edit
                            </button>
                            <button type="button" className="btn btn--danger-ghost btn--sm" aria-label={`Remove ${e.alias}`} onClick={() => setRemoving(e)}>
                              Remove
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
          {endpoints.data && endpoints.data.some((e) => e.kind !== "embedding") && roleAtLeast(org.role, "editor") ? (
            <TestPrompt
              orgId={org.id}
              selectedId={testing}
              endpoints={endpoints.data.filter((e) => e.kind !== "embedding")}
            />
          ) : null}
          <Charts orgId={org.id} />
        </div>
      ) : null}

      {tab === "deployments" ? (
        <div role="tabpanel" aria-label="Deployments">
          <DeploymentsPanel orgId={org.id} isAdmin={isAdmin} />
        </div>
      ) : null}

      {tab === "usage" ? (
        <div role="tabpanel" aria-label="Usage">
          <UsagePanel orgId={org.id} canEdit={isAdmin} aliases={aliases} />
        </div>
      ) : null}

      {editing ? (
        <EndpointDialog
          orgId={org.id}
          endpoint={editing === "new" ? undefined : editing}
          aliases={aliases}
          onClose={() => setEditing(null)}
        />
      ) : null}
      {removing ? (
        <ConfirmDialog
          title={`Remove ${removing.alias}`}
          confirmLabel="Remove"
          pending={remove.isPending}
          error={remove.error}
          onCancel={() => {
            setRemoving(null);
            remove.reset();
          }}
          onConfirm={async () => {
            try {
              await remove.mutateAsync(removing.id);
              setRemoving(null);
            } catch {
              // shown in the dialog
            }
          }}
        >
          Flows that call <strong>{removing.alias}</strong> fail until another model takes the alias. Its API key is deleted.
        </ConfirmDialog>
      ) : null}
    </div>
  );
}

const CHARTS = [
  ["requests", "Requests / min"],
  ["tokens_per_s", "Tokens / s"],
  ["ttft_p50_ms", "Time to first token (ms, p50)"],
  ["cost", "Cost"],
] as const;

function Charts(props: { orgId: string }) {
  const stats = useModelStats(props.orgId);
  if (!stats.data || stats.data.length === 0) return null;
  return (
    <section className="models-charts" aria-label="Last 24 hours">
      {CHARTS.map(([field, label]) => (
        <div key={field} className="card models-chart">
          <h3>{label}</h3>
          {[...series(stats.data, field)].map(([alias, values]) => (
            <div key={alias} className="models-spark">
              <span>{alias}</span>
              <Sparkline values={values} />
              <span className="muted">{values[values.length - 1]}</span>
            </div>
          ))}
        </div>
      ))}
    </section>
  );
}

export function Sparkline({ values, width = 160, height = 28 }: { values: number[]; width?: number; height?: number }) {
  const max = Math.max(1e-9, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - (v / max) * height).toFixed(1)}`).join(" ");
  return (
    <svg width={width} height={height} role="img" aria-label="trend">
      <polyline points={points} fill="none" stroke="currentColor" strokeWidth="1.5" />
    </svg>
  );
}
