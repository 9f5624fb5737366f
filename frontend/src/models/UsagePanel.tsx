/** Usage: the organization's monthly budget and rate limit with this month's tokens and spend,
 * and the model-call ledger with filters and a CSV download of what the filters select. */
import { useState, type FormEvent } from "react";
import { formatDateTime } from "../lib/format";
import { Badge } from "../ui/Badge";
import { EmptyState, ErrorState, FormError, LoadingState } from "../ui/feedback";
import { Field } from "../ui/Field";
import { ledgerCsvUrl, useModelCalls, useQuota, useSetQuota, type LedgerFilters } from "./api";
import { formatCost, formatTokens } from "./presets";

export function UsagePanel(props: { orgId: string; canEdit: boolean; aliases: string[] }) {
  return (
    <>
      <QuotaCard orgId={props.orgId} canEdit={props.canEdit} />
      <Ledger orgId={props.orgId} aliases={props.aliases} />
    </>
  );
}

function QuotaCard(props: { orgId: string; canEdit: boolean }) {
  const quota = useQuota(props.orgId);
  const save = useSetQuota(props.orgId);
  const [editing, setEditing] = useState(false);
  const [budget, setBudget] = useState("");
  const [rpm, setRpm] = useState("");
  const [money, setMoney] = useState("");

  if (quota.isPending) return <LoadingState label="Loading the budget…" />;
  if (quota.isError) return <ErrorState error={quota.error} onRetry={() => void quota.refetch()} />;
  const q = quota.data;
  const share = q.monthly_token_budget ? Math.min(1, (q.used_this_month ?? 0) / q.monthly_token_budget) : null;
  const spentShare =
    q.monthly_cost_budget != null && Number(q.monthly_cost_budget) > 0
      ? Math.min(1, Number(q.spent_this_month ?? 0) / Number(q.monthly_cost_budget))
      : null;

  function start() {
    setBudget(q.monthly_token_budget != null ? String(q.monthly_token_budget) : "");
    setRpm(q.requests_per_minute != null ? String(q.requests_per_minute) : "");
    setMoney(q.monthly_cost_budget != null ? String(Number(q.monthly_cost_budget)) : "");
    setEditing(true);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      await save.mutateAsync({
        monthly_token_budget: budget.trim() ? Number(budget) : null,
        requests_per_minute: rpm.trim() ? Number(rpm) : null,
        monthly_cost_budget: money.trim() ? money.trim() : null,
      });
      setEditing(false);
    } catch {
      // save.error is shown in the form
    }
  }

  return (
    <section className="card usage-quota" aria-labelledby="quota-title">
      <div className="section__header">
        <h2 id="quota-title" className="section__title">
          This month
        </h2>
        {props.canEdit && !editing ? (
          <button type="button" className="btn btn--secondary btn--sm" onClick={start}>
            Edit limits
          </button>
        ) : null}
      </div>
      <dl className="usage-figures">
        <div>
          <dt>Spend</dt>
          <dd data-testid="spend">
            {formatCost(q.spent_this_month ?? 0)}
            {q.monthly_cost_budget != null ? <span className="muted"> of {formatCost(q.monthly_cost_budget)}</span> : null}
          </dd>
        </div>
        <div>
          <dt>Tokens</dt>
          <dd>
            {formatTokens(q.used_this_month)}
            {q.monthly_token_budget != null ? <span className="muted"> of {formatTokens(q.monthly_token_budget)}</span> : null}
          </dd>
        </div>
        <div>
          <dt>Requests per minute</dt>
          <dd>{q.requests_per_minute ?? <span className="muted">no limit</span>}</dd>
        </div>
      </dl>
      {spentShare != null ? (
        <div className="meter" role="meter" aria-label="Money budget used" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(spentShare * 100)}>
          <div className={`meter__bar${spentShare > 0.9 ? " meter__bar--danger" : ""}`} style={{ width: `${spentShare * 100}%` }} />
        </div>
      ) : null}
      {share != null ? (
        <div className="meter" role="meter" aria-label="Token budget used" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(share * 100)}>
          <div className={`meter__bar${share > 0.9 ? " meter__bar--danger" : ""}`} style={{ width: `${share * 100}%` }} />
        </div>
      ) : (
        <p className="muted">
          {q.monthly_cost_budget != null ? "No monthly token budget." : "No monthly budget: model use is not capped."}
        </p>
      )}
      {editing ? (
        <form className="form" onSubmit={submit} noValidate>
          <FormError error={save.error} />
          <div className="form-row">
            <Field label="Monthly budget (money)" hint="At the endpoints' prices. Blank: no budget.">
              <input className="input" type="number" min={0} step="any" value={money} onChange={(e) => setMoney(e.target.value)} />
            </Field>
            <Field label="Monthly token budget" hint="Blank: no budget.">
              <input className="input" type="number" min={0} value={budget} onChange={(e) => setBudget(e.target.value)} />
            </Field>
            <Field label="Requests per minute" hint="Blank: no limit.">
              <input className="input" type="number" min={1} value={rpm} onChange={(e) => setRpm(e.target.value)} />
            </Field>
          </div>
          <div className="form-actions">
            <button type="button" className="btn btn--ghost" onClick={() => setEditing(false)} disabled={save.isPending}>
              Cancel
            </button>
            <button type="submit" className="btn btn--primary" disabled={save.isPending}>
              {save.isPending ? "Saving…" : "Save limits"}
            </button>
          </div>
        </form>
      ) : null}
    </section>
  );
}

const STATUS_TONE = { ok: "success", failed: "danger", refused: "warning" } as const;

function Ledger(props: { orgId: string; aliases: string[] }) {
  const [filters, setFilters] = useState<LedgerFilters>({});
  const calls = useModelCalls(props.orgId, filters);
  const set = (patch: Partial<LedgerFilters>) => setFilters((old) => ({ ...old, ...patch }));

  return (
    <section className="usage-ledger" aria-labelledby="ledger-title">
      <div className="section__header">
        <h2 id="ledger-title" className="section__title">
          Model calls
        </h2>
        <a className="btn btn--secondary btn--sm" href={ledgerCsvUrl(props.orgId, filters)} download>
          Export CSV
        </a>
      </div>
      <div className="ledger-filters" role="group" aria-label="Filters">
        <select className="select select--sm" aria-label="Model" value={filters.alias ?? ""} onChange={(e) => set({ alias: e.target.value || undefined })}>
          <option value="">All models</option>
          {props.aliases.map((a) => (
            <option key={a} value={a}>
              {a}
            </option>
          ))}
        </select>
        <select
          className="select select--sm"
          aria-label="Status"
          value={filters.status ?? ""}
          onChange={(e) => set({ status: (e.target.value || undefined) as LedgerFilters["status"] })}
        >
          <option value="">Any status</option>
          <option value="ok">OK</option>
          <option value="failed">Failed</option>
          <option value="refused">Refused</option>
        </select>
        <label className="ledger-filters__date">
          From
          <input
            className="input"
            type="date"
            value={filters.since?.slice(0, 10) ?? ""}
            onChange={(e) => set({ since: e.target.value ? new Date(`${e.target.value}T00:00:00`).toISOString() : undefined })}
          />
        </label>
        <label className="ledger-filters__date">
          To
          <input
            className="input"
            type="date"
            value={filters.until ? new Date(new Date(filters.until).getTime() - 86_400_000).toISOString().slice(0, 10) : ""}
            onChange={(e) =>
              set({
                until: e.target.value ? new Date(new Date(`${e.target.value}T00:00:00`).getTime() + 86_400_000).toISOString() : undefined,
              })
            }
          />
        </label>
      </div>
      {calls.isPending ? (
        <LoadingState label="Loading model calls…" />
      ) : calls.isError ? (
        <ErrorState error={calls.error} onRetry={() => void calls.refetch()} />
      ) : calls.data.length === 0 ? (
        <EmptyState title="No model calls">Calls appear here as flows, widgets and test prompts use models.</EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table" aria-label="Model calls">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Model</th>
                <th scope="col">Status</th>
                <th scope="col">Tokens in / out</th>
                <th scope="col">First token</th>
                <th scope="col">Cost</th>
              </tr>
            </thead>
            <tbody>
              {calls.data.map((call) => (
                <tr key={call.id}>
                  <td className="nowrap">{formatDateTime(call.at)}</td>
                  <td>
                    {call.alias}
                    {call.served_by && call.served_by !== call.alias ? <span className="muted"> → {call.served_by}</span> : null}
                  </td>
                  <td title={call.error || undefined}>
                    <Badge tone={STATUS_TONE[call.status as keyof typeof STATUS_TONE] ?? "neutral"}>{call.status}</Badge>
                  </td>
                  <td className="nowrap">
                    {call.input_tokens} / {call.output_tokens}
                  </td>
                  <td className="nowrap">{call.ttft_ms != null ? `${Math.round(call.ttft_ms)} ms` : "—"}</td>
                  <td className="nowrap">{formatCost(call.cost ?? 0)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
