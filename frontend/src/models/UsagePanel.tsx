/** Usage: the organization's monthly budget and rate limit with this month's tokens and spend,
 * budgets per flow and per widget with their spend, cache hits, and the model-call ledger with
 * filters (model, model that served, flow, user, status, dates) and a CSV download of what the
 * filters select. */
import { useState, type FormEvent } from "react";
import { useMembers } from "../api/orgs";
import { useFlows } from "../editor/api";
import { formatDateTime } from "../lib/format";
import { Badge } from "../ui/Badge";
import { EmptyState, ErrorState, FormError, LoadingState } from "../ui/feedback";
import { Field } from "../ui/Field";
import { ApiError } from "../lib/errors";
import { fieldErrors } from "../lib/forms";
import { useWidgets } from "../widgets/api";
import {
  ledgerCsvUrl,
  useBudgets,
  useDeleteBudget,
  useModelCalls,
  useQuota,
  useSetBudget,
  useSetQuota,
  type Budget,
  type LedgerFilters,
} from "./api";
import { formatCost, formatTokens } from "./presets";

/** The error for the form's own banner: none when every message belongs to one of `fields`
 *  (each is shown under its input, in words, without the API's field name in front). */
function formLevel(error: unknown, fields: string[]): unknown {
  if (error instanceof ApiError && Object.keys(error.fields).length > 0 && Object.keys(error.fields).every((name) => fields.includes(name))) {
    return null;
  }
  return error;
}

export function UsagePanel(props: { orgId: string; canEdit: boolean; aliases: string[] }) {
  return (
    <>
      <QuotaCard orgId={props.orgId} canEdit={props.canEdit} />
      <BudgetsCard orgId={props.orgId} canEdit={props.canEdit} />
      <Ledger orgId={props.orgId} aliases={props.aliases} />
    </>
  );
}

function share(used: number, limit: number | null | undefined): number | null {
  return limit != null && limit > 0 ? Math.min(1, used / limit) : null;
}

function Meter(props: { label: string; value: number | null }) {
  if (props.value == null) return null;
  return (
    <div className="meter" role="meter" aria-label={props.label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(props.value * 100)}>
      <div className={`meter__bar${props.value > 0.9 ? " meter__bar--danger" : ""}`} style={{ width: `${props.value * 100}%` }} />
    </div>
  );
}

/** Budgets per flow and per widget: what each used this month against its limits; admins set
 * and remove them. A flow or widget over its budget has its runs refused until the month ends. */
function BudgetsCard(props: { orgId: string; canEdit: boolean }) {
  const budgets = useBudgets(props.orgId);
  const flows = useFlows(props.orgId, "");
  const widgets = useWidgets(props.orgId);
  const save = useSetBudget(props.orgId);
  const remove = useDeleteBudget(props.orgId);
  const [target, setTarget] = useState("");
  const [money, setMoney] = useState("");
  const [tokens, setTokens] = useState("");

  async function submit(event: FormEvent) {
    event.preventDefault();
    const [kind, id] = target.split(":");
    try {
      await save.mutateAsync({
        flow: kind === "flow" ? id : null,
        widget: kind === "widget" ? id : null,
        monthly_cost_budget: money.trim() ? money.trim() : null,
        monthly_token_budget: tokens.trim() ? Number(tokens) : null,
      });
      setTarget("");
      setMoney("");
      setTokens("");
    } catch {
      // save.error is shown in the form
    }
  }

  function edit(budget: Budget) {
    setTarget(budget.flow ? `flow:${budget.flow}` : `widget:${budget.widget}`);
    setMoney(budget.monthly_cost_budget != null ? String(Number(budget.monthly_cost_budget)) : "");
    setTokens(budget.monthly_token_budget != null ? String(budget.monthly_token_budget) : "");
  }

  return (
    <section className="card usage-budgets" aria-labelledby="budgets-title">
      <div className="section__header">
        <h2 id="budgets-title" className="section__title">
          Budgets per flow and widget
        </h2>
      </div>
      {budgets.isPending ? (
        <LoadingState label="Loading budgets…" />
      ) : budgets.isError ? (
        <ErrorState error={budgets.error} onRetry={() => void budgets.refetch()} />
      ) : budgets.data.length === 0 ? (
        <p className="muted">No flow or widget has its own budget: only the organization's limits apply.</p>
      ) : (
        <ul className="budget-list" aria-label="Budgets">
          {budgets.data.map((budget) => (
            <li key={budget.id} className="budget-list__item">
              <div className="budget-list__head">
                <span>
                  <Badge tone="neutral">{budget.flow ? "Flow" : "Widget"}</Badge> <strong>{budget.name}</strong>
                </span>
                <span data-testid="budget-spend">
                  {formatCost(budget.spent_this_month ?? 0)}
                  {budget.monthly_cost_budget != null ? <span className="muted"> of {formatCost(budget.monthly_cost_budget)}</span> : null}
                  {" · "}
                  {formatTokens(budget.used_this_month ?? 0)}
                  {budget.monthly_token_budget != null ? <span className="muted"> of {formatTokens(budget.monthly_token_budget)} tokens</span> : " tokens"}
                </span>
                {props.canEdit ? (
                  <span className="budget-list__actions">
                    <button type="button" className="btn btn--ghost btn--sm" onClick={() => edit(budget)}>
                      Edit
                    </button>
                    <button
                      type="button"
                      className="btn btn--ghost btn--sm"
                      disabled={remove.isPending}
                      aria-label={`Remove the budget of ${budget.name}`}
                      onClick={() => remove.mutate(budget.id)}
                    >
                      Remove
                    </button>
                  </span>
                ) : null}
              </div>
              <Meter label={`Money budget of ${budget.name} used`} value={share(Number(budget.spent_this_month ?? 0), budget.monthly_cost_budget != null ? Number(budget.monthly_cost_budget) : null)} />
              <Meter label={`Token budget of ${budget.name} used`} value={share(budget.used_this_month ?? 0, budget.monthly_token_budget)} />
            </li>
          ))}
        </ul>
      )}
      <FormError error={remove.error} />
      {props.canEdit ? (
        <form className="form" onSubmit={submit} noValidate aria-label="Set a budget">
          <FormError error={formLevel(save.error, ["monthly_cost_budget", "monthly_token_budget"])} />
          <div className="form-row">
            <Field label="Flow or widget">
              <select className="select" value={target} onChange={(e) => setTarget(e.target.value)}>
                <option value="">Choose…</option>
                <optgroup label="Flows">
                  {(flows.data?.results ?? []).map((flow) => (
                    <option key={flow.id} value={`flow:${flow.id}`}>
                      {flow.name}
                    </option>
                  ))}
                </optgroup>
                <optgroup label="Widgets">
                  {(widgets.data ?? []).map((widget) => (
                    <option key={widget.id} value={`widget:${widget.id}`}>
                      {widget.name}
                    </option>
                  ))}
                </optgroup>
              </select>
            </Field>
            <Field label="Monthly budget (money)" hint="At the endpoints' prices. Blank: no money limit." errors={fieldErrors(save.error, "monthly_cost_budget")}>
              <input className="input" type="number" min={0} step="any" value={money} onChange={(e) => setMoney(e.target.value)} />
            </Field>
            <Field label="Monthly tokens" hint="Blank: no token limit." errors={fieldErrors(save.error, "monthly_token_budget")}>
              <input className="input" type="number" min={0} value={tokens} onChange={(e) => setTokens(e.target.value)} />
            </Field>
          </div>
          <div className="form-actions">
            <button type="submit" className="btn btn--secondary" disabled={save.isPending || !target || (!money.trim() && !tokens.trim())}>
              {save.isPending ? "Saving…" : "Set budget"}
            </button>
          </div>
        </form>
      ) : null}
    </section>
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
        <div>
          <dt>Answered from cache</dt>
          <dd data-testid="cache-hits">
            {q.calls_this_month ? `${Math.round(((q.cache_hits_this_month ?? 0) / q.calls_this_month) * 100)}%` : "—"}
            <span className="muted">
              {" "}
              {q.cache_hits_this_month ?? 0} of {q.calls_this_month ?? 0} calls, saved {formatCost(q.saved_this_month ?? 0)}
            </span>
          </dd>
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
          <FormError error={formLevel(save.error, ["monthly_cost_budget", "monthly_token_budget", "requests_per_minute"])} />
          <div className="form-row">
            <Field label="Monthly budget (money)" hint="At the endpoints' prices. Blank: no budget." errors={fieldErrors(save.error, "monthly_cost_budget")}>
              <input className="input" type="number" min={0} step="any" value={money} onChange={(e) => setMoney(e.target.value)} />
            </Field>
            <Field label="Monthly token budget" hint="Blank: no budget." errors={fieldErrors(save.error, "monthly_token_budget")}>
              <input className="input" type="number" min={0} value={budget} onChange={(e) => setBudget(e.target.value)} />
            </Field>
            <Field label="Requests per minute" hint="Blank: no limit." errors={fieldErrors(save.error, "requests_per_minute")}>
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
  const flows = useFlows(props.orgId, "");
  const members = useMembers(props.orgId);
  const flowNames = new Map((flows.data?.results ?? []).map((flow) => [flow.id, flow.name]));
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
          aria-label="Served by"
          value={filters.served_by ?? ""}
          onChange={(e) => set({ served_by: e.target.value || undefined })}
        >
          <option value="">Served by any</option>
          {[...props.aliases, "cache", "semantic-cache"].map((a) => (
            <option key={a} value={a}>
              {a === "cache" ? "the exact cache" : a === "semantic-cache" ? "the semantic cache" : a}
            </option>
          ))}
        </select>
        <select className="select select--sm" aria-label="Flow" value={filters.flow ?? ""} onChange={(e) => set({ flow: e.target.value || undefined })}>
          <option value="">All flows</option>
          {(flows.data?.results ?? []).map((flow) => (
            <option key={flow.id} value={flow.id}>
              {flow.name}
            </option>
          ))}
        </select>
        {members.data ? (
          <select
            className="select select--sm"
            aria-label="User"
            value={filters.user ?? ""}
            onChange={(e) => set({ user: e.target.value ? Number(e.target.value) : undefined })}
          >
            <option value="">All users</option>
            {members.data.map((member) => (
              <option key={member.user.id} value={member.user.id}>
                {member.user.username}
              </option>
            ))}
          </select>
        ) : null}
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
                <th scope="col">Flow</th>
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
                  <td>{call.flow_id ? (flowNames.get(call.flow_id) ?? <span className="muted">deleted flow</span>) : <span className="muted">test prompt</span>}</td>
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
