/** Alerts: rules the queue worker checks each minute, their state and history; a webhook per
 *  rule (signed; its secret shown once). */
import { useState, type FormEvent } from "react";
import { formatDateTime } from "../lib/format";
import { Badge } from "../ui/Badge";
import { EmptyState, ErrorState, FormError, LoadingState } from "../ui/feedback";
import { AlertIcon } from "../ui/icons";
import { METRICS, useAlertEvents, useAlertRules, useCreateAlertRule, useDeleteAlertRule, type AlertRule } from "./alertsApi";

const metricLabel = (metric: string) => METRICS.find(([id]) => id === metric)?.[1] ?? metric;

function formatValue(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

export function Alerts({ orgId, flows, canEdit }: { orgId: string; flows: { id: string; name: string }[]; canEdit: boolean }) {
  const rules = useAlertRules(orgId);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <div className="alerts">
      {canEdit ? <NewRule orgId={orgId} flows={flows} /> : null}
      {rules.isPending ? (
        <LoadingState label="Loading alert rules…" />
      ) : rules.isError ? (
        <ErrorState error={rules.error} onRetry={() => void rules.refetch()} />
      ) : rules.data.length === 0 ? (
        <EmptyState icon={<AlertIcon size={24} />} title="No alert rules yet">
          A rule watches your runs every minute — say, “error rate of the support flow over 5% for 5 minutes” or “cost
          over $20 in a day” — and tells you here and on your webhook when it fires and when it is back to normal.
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table" aria-label="Alert rules">
            <thead>
              <tr>
                <th scope="col">Rule</th>
                <th scope="col">Condition</th>
                <th scope="col">State</th>
                <th scope="col">Last value</th>
                <th scope="col">Checked</th>
              </tr>
            </thead>
            <tbody>
              {rules.data.map((rule) => (
                <RuleRow key={rule.id} orgId={orgId} rule={rule} open={open === rule.id} onToggle={() => setOpen(open === rule.id ? null : rule.id)} canEdit={canEdit} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function RuleRow({ orgId, rule, open, onToggle, canEdit }: {
  orgId: string;
  rule: AlertRule;
  open: boolean;
  onToggle: () => void;
  canEdit: boolean;
}) {
  const remove = useDeleteAlertRule(orgId);
  return (
    <>
      <tr
        className="runs-table__row"
        onClick={onToggle}
        onKeyDown={(e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            onToggle();
          }
        }}
        tabIndex={0}
        aria-expanded={open}
        data-rule={rule.id}
      >
        <td>{rule.name}</td>
        <td>
          {metricLabel(rule.metric)} &gt; {rule.threshold} over {rule.window_minutes ?? 5} min
        </td>
        <td>
          <Badge tone={rule.state === "firing" ? "danger" : "success"}>{rule.state ?? "ok"}</Badge>
        </td>
        <td>{formatValue(rule.last_value)}</td>
        <td className="nowrap">{formatDateTime(rule.last_evaluated_at, "Not yet")}</td>
      </tr>
      {open ? (
        <tr>
          <td colSpan={5}>
            <RuleHistory orgId={orgId} id={rule.id} />
            {canEdit ? (
              <button type="button" className="btn btn--danger-ghost btn--sm" onClick={() => remove.mutate(rule.id)}>
                Delete rule
              </button>
            ) : null}
          </td>
        </tr>
      ) : null}
    </>
  );
}

function RuleHistory({ orgId, id }: { orgId: string; id: string }) {
  const events = useAlertEvents(orgId, id);
  if (events.isPending) return <LoadingState label="Loading history…" />;
  if (events.isError) return <ErrorState error={events.error} />;
  if (!events.data.length) return <p className="muted">It has not fired yet.</p>;
  return (
    <ul className="alerts__history">
      {events.data.map((event) => (
        <li key={event.id}>
          <Badge tone={event.kind === "firing" ? "danger" : "success"}>{event.kind}</Badge> {formatDateTime(event.at)} ·
          value {formatValue(event.value)} (threshold {event.threshold})
          {event.deliveries.length ? (
            <span className="muted">
              {" "}
              · webhook: {event.deliveries.some((d) => d.delivered) ? "delivered" : "not delivered"} after{" "}
              {event.deliveries.length} attempt{event.deliveries.length === 1 ? "" : "s"}
            </span>
          ) : null}
        </li>
      ))}
    </ul>
  );
}

function NewRule({ orgId, flows }: { orgId: string; flows: { id: string; name: string }[] }) {
  const create = useCreateAlertRule(orgId);
  const [secret, setSecret] = useState<string | null>(null);
  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const text = (name: string) => String(form.get(name) ?? "").trim();
    try {
      const rule = await create.mutateAsync({
        name: text("name"),
        metric: text("metric") as AlertRule["metric"],
        flow: text("flow") || null,
        threshold: Number(text("threshold")),
        window_minutes: Number(text("window_minutes") || "5"),
        webhook_url: text("webhook_url"),
      });
      setSecret(rule.webhook_secret || null);
      event.currentTarget?.reset();
    } catch {
      // create.error is shown below
    }
  }
  return (
    <form className="runs-filters alerts__new" aria-label="New alert rule" onSubmit={submit}>
      <label className="runs-filter">
        <span className="runs-filter__label">Name</span>
        <input className="input" name="name" required maxLength={120} placeholder="Support bot errors" />
      </label>
      <label className="runs-filter">
        <span className="runs-filter__label">Metric</span>
        <select className="select select--sm" name="metric">
          {METRICS.map(([id, label]) => (
            <option key={id} value={id}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <label className="runs-filter">
        <span className="runs-filter__label">Flow</span>
        <select className="select select--sm" name="flow">
          <option value="">All flows</option>
          {flows.map((f) => (
            <option key={f.id} value={f.id}>
              {f.name}
            </option>
          ))}
        </select>
      </label>
      <label className="runs-filter">
        <span className="runs-filter__label">Above</span>
        <input className="input" name="threshold" type="number" min={0} step="any" required style={{ width: 90 }} />
      </label>
      <label className="runs-filter">
        <span className="runs-filter__label">Window (min)</span>
        <input className="input" name="window_minutes" type="number" min={1} max={1440} defaultValue={5} style={{ width: 90 }} />
      </label>
      <label className="runs-filter">
        <span className="runs-filter__label">Webhook (optional)</span>
        <input className="input" name="webhook_url" type="url" placeholder="https://…" />
      </label>
      <button type="submit" className="btn btn--primary btn--sm" disabled={create.isPending}>
        Add rule
      </button>
      <FormError error={create.error} />
      {secret ? (
        <p className="callout alerts__secret" role="status">
          Webhook signing secret (shown once): <code>{secret}</code>. Each call carries X-Trellis-Signature:
          t=&lt;time&gt;,v1=HMAC-SHA256 of “t.body”.
        </p>
      ) : null}
    </form>
  );
}
