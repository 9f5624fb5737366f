import { useState } from "react";
import { ErrorState, LoadingState } from "../ui/feedback";
import { useWidgetAnalytics } from "./api";

const RANGES = [7, 30, 90] as const;

export function WidgetAnalytics({ orgId, widgetId }: { orgId: string; widgetId: string }) {
  const [days, setDays] = useState<number>(30);
  const analytics = useWidgetAnalytics(orgId, widgetId, days);
  const data = analytics.data;
  const peak = Math.max(1, ...(data?.days ?? []).map((d) => d.messages));

  return (
    <div className="card">
      <div className="card__body">
        <div style={{ display: "flex", justifyContent: "space-between", alignItems: "center" }}>
          <h2 className="section__title">Analytics</h2>
          <select
            className="select select--sm"
            aria-label="Period"
            value={days}
            onChange={(e) => setDays(Number(e.target.value))}
          >
            {RANGES.map((n) => (
              <option key={n} value={n}>
                Last {n} days
              </option>
            ))}
          </select>
        </div>
        {analytics.isPending ? (
          <LoadingState label="Loading analytics…" />
        ) : analytics.isError ? (
          <ErrorState error={analytics.error} onRetry={() => void analytics.refetch()} />
        ) : data ? (
          <>
            <dl style={{ display: "grid", gridTemplateColumns: "repeat(auto-fit, minmax(120px, 1fr))", gap: 12 }}>
              {(
                [
                  ["Conversations", data.totals.conversations],
                  ["Messages", data.totals.messages],
                  ["Thumbs up", data.totals.thumbs_up],
                  ["Thumbs down", data.totals.thumbs_down],
                  ["Tokens", data.totals.input_tokens + data.totals.output_tokens],
                  ["Cost", `$${Number(data.totals.cost).toFixed(4)}`],
                ] as const
              ).map(([label, value]) => (
                <div key={label}>
                  <dt className="muted">{label}</dt>
                  <dd style={{ margin: 0, fontSize: 22, fontWeight: 600 }}>{value}</dd>
                </div>
              ))}
            </dl>
            <div
              role="img"
              aria-label={`Messages per day over the last ${days} days`}
              style={{ display: "flex", alignItems: "flex-end", gap: 2, height: 80, marginTop: 16 }}
            >
              {data.days.map((d) => (
                <div
                  key={d.day}
                  title={`${d.day}: ${d.messages} messages, ${d.conversations} conversations, ${d.input_tokens + d.output_tokens} tokens`}
                  style={{
                    flex: 1,
                    height: `${Math.max(2, (d.messages / peak) * 100)}%`,
                    background: d.messages ? "var(--accent, #4f46e5)" : "var(--border, #e5e7eb)",
                    borderRadius: 2,
                  }}
                />
              ))}
            </div>
          </>
        ) : null}
      </div>
    </div>
  );
}
