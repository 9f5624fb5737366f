/** The dashboard: figures for a time range, and per-day (per-hour for today) charts (runs and
 *  errors, latency, time to first token, cost, guard hits) drawn by uPlot; errors by code, guard hits
 *  by check, per flow and per model alias below. Served from the hourly rollups. */
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { ErrorState, LoadingState } from "../ui/feedback";
import { formatCost, formatMs } from "./format";
import { TimeChart } from "./TimeChart";

type Stats = components["schemas"]["RunStatsOut"];
type Point = { key: string; label: string } & Partial<Stats["days"][number]>;

function useStats(orgId: string, days: number, flow: string) {
  return useQuery({
    queryKey: ["orgs", orgId, "runs", "stats", { days, flow }],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/runs/stats/", {
          params: { path: { org_id: orgId }, query: { days, ...(flow ? { flow } : {}) } },
        }),
      ),
    refetchInterval: 60_000,
  });
}

/** Per hour for today (the rollups' grain), per day otherwise. */
function points(stats: Stats, days: number): Point[] {
  if (days <= 1) {
    return stats.hours.map((h) => ({ ...h, key: h.hour, label: `${h.hour.slice(11, 16)} UTC` }));
  }
  return stats.days.map((d) => ({ ...d, key: d.day, label: d.day }));
}

export function Dashboard({ orgId, flows }: { orgId: string; flows: { id: string; name: string }[] }) {
  const [days, setDays] = useState(7);
  const [flow, setFlow] = useState("");
  const stats = useStats(orgId, days, flow);
  return (
    <div className="dashboard">
      <form className="runs-filters" aria-label="Dashboard range" onSubmit={(e) => e.preventDefault()}>
        <label className="runs-filter">
          <span className="runs-filter__label">Range</span>
          <select className="select select--sm" value={days} onChange={(e) => setDays(Number(e.target.value))}>
            <option value={1}>Today</option>
            <option value={7}>Last 7 days</option>
            <option value={30}>Last 30 days</option>
            <option value={90}>Last 90 days</option>
          </select>
        </label>
        <label className="runs-filter">
          <span className="runs-filter__label">Flow</span>
          <select className="select select--sm" value={flow} onChange={(e) => setFlow(e.target.value)}>
            <option value="">All flows</option>
            {flows.map((f) => (
              <option key={f.id} value={f.id}>
                {f.name}
              </option>
            ))}
          </select>
        </label>
      </form>
      {stats.isPending ? (
        <LoadingState label="Loading figures…" />
      ) : stats.isError ? (
        <ErrorState error={stats.error} onRetry={() => void stats.refetch()} />
      ) : (
        <>
          <dl className="run-figures" aria-label="Totals">
            <div>
              <dt>Runs</dt>
              <dd>{stats.data.total.runs.toLocaleString()}</dd>
            </div>
            <div>
              <dt>Runs per second</dt>
              <dd>{stats.data.total.runs_per_second.toLocaleString()}</dd>
            </div>
            <div>
              <dt>Error rate</dt>
              <dd>{stats.data.total.error_rate === null ? "—" : `${stats.data.total.error_rate}%`}</dd>
            </div>
            <div>
              <dt>Latency p50 / p95 / p99</dt>
              <dd>
                {formatMs(stats.data.total.p50_latency_ms)} / {formatMs(stats.data.total.p95_latency_ms)} /{" "}
                {formatMs(stats.data.total.p99_latency_ms)}
              </dd>
            </div>
            <div>
              <dt>First token p50 / p95</dt>
              <dd>
                {formatMs(stats.data.total.p50_ttft_ms)} / {formatMs(stats.data.total.p95_ttft_ms)}
              </dd>
            </div>
            <div>
              <dt>Between tokens p50 / p95</dt>
              <dd>
                {formatMs(stats.data.total.p50_tbt_ms)} / {formatMs(stats.data.total.p95_tbt_ms)}
              </dd>
            </div>
            <div>
              <dt>Tokens per second</dt>
              <dd>{stats.data.total.tokens_per_second ?? "—"}</dd>
            </div>
            <div>
              <dt>Tokens</dt>
              <dd>{(stats.data.total.input_tokens + stats.data.total.output_tokens).toLocaleString()}</dd>
            </div>
            <div>
              <dt>Cost</dt>
              <dd>{formatCost(stats.data.total.cost)}</dd>
            </div>
            <div>
              <dt>Cost per run</dt>
              <dd>{stats.data.total.cost_per_run === null ? "—" : formatCost(stats.data.total.cost_per_run)}</dd>
            </div>
            <div>
              <dt>Guard hits</dt>
              <dd>{flow ? "—" : stats.data.total.guard_hits.toLocaleString()}</dd>
            </div>
          </dl>
          <div className="charts">
            <TimeChart title={days <= 1 ? "Runs per hour" : "Runs per day"} points={points(stats.data, days)} value={(d) => d.runs} format={(v) => String(v)} />
            <TimeChart title="Error rate (%)" points={points(stats.data, days)} value={(d) => d.error_rate} format={(v) => `${v.toFixed(1)}%`} />
            <TimeChart title="Latency p95" points={points(stats.data, days)} value={(d) => d.p95_latency_ms} format={formatMs} />
            <TimeChart title="First token p95" points={points(stats.data, days)} value={(d) => d.p95_ttft_ms} format={formatMs} />
            <TimeChart title={days <= 1 ? "Cost per hour" : "Cost per day"} points={points(stats.data, days)} value={(d) => Number(d.cost ?? 0)} format={formatCost} />
            {days > 1 && !flow ? (
              <TimeChart title="Guard hits per day" points={points(stats.data, days)} value={(d) => d.guard_hits} format={(v) => String(v)} />
            ) : null}
          </div>
          <div className="run-detail__io">
            <table className="table" aria-label="Errors by code">
              <thead>
                <tr>
                  <th scope="col">Error code</th>
                  <th scope="col">Failed runs</th>
                </tr>
              </thead>
              <tbody>
                {stats.data.total.errors.length === 0 ? (
                  <tr>
                    <td colSpan={2} className="muted">
                      No failed runs in this range.
                    </td>
                  </tr>
                ) : (
                  stats.data.total.errors.map((e) => (
                    <tr key={e.code}>
                      <td>
                        <code>{e.code || "unknown"}</code>
                      </td>
                      <td>{e.runs.toLocaleString()}</td>
                    </tr>
                  ))
                )}
              </tbody>
            </table>
            {flow ? null : (
              <table className="table" aria-label="Guard hits">
                <thead>
                  <tr>
                    <th scope="col">Guard check</th>
                    <th scope="col">Action</th>
                    <th scope="col">Hits</th>
                  </tr>
                </thead>
                <tbody>
                  {stats.data.guards.length === 0 ? (
                    <tr>
                      <td colSpan={3} className="muted">
                        No guard check fired in this range.
                      </td>
                    </tr>
                  ) : (
                    stats.data.guards.map((g) => (
                      <tr key={`${g.check}-${g.action}`}>
                        <td>{g.check}</td>
                        <td>{g.action}</td>
                        <td>{g.hits.toLocaleString()}</td>
                      </tr>
                    ))
                  )}
                </tbody>
              </table>
            )}
          </div>
          <div className="run-detail__io">
            <table className="table" aria-label="Per flow">
              <thead>
                <tr>
                  <th scope="col">Flow</th>
                  <th scope="col">Runs</th>
                  <th scope="col">Errors</th>
                  <th scope="col">p95</th>
                  <th scope="col">Cost</th>
                </tr>
              </thead>
              <tbody>
                {stats.data.flows.map((f) => (
                  <tr key={f.flow_id}>
                    <td>{f.flow_name}</td>
                    <td>{f.runs}</td>
                    <td>{f.error_rate === null ? "—" : `${f.error_rate}%`}</td>
                    <td>{formatMs(f.p95_latency_ms)}</td>
                    <td>{formatCost(f.cost)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <table className="table" aria-label="Per model">
              <thead>
                <tr>
                  <th scope="col">Model alias</th>
                  <th scope="col">Calls</th>
                  <th scope="col">Fallbacks</th>
                  <th scope="col">First token p95</th>
                  <th scope="col">Cost</th>
                </tr>
              </thead>
              <tbody>
                {stats.data.models.map((m) => (
                  <tr key={m.alias}>
                    <td>{m.alias}</td>
                    <td>{m.calls}</td>
                    <td>{m.fallbacks}</td>
                    <td>{formatMs(m.p95_ttft_ms)}</td>
                    <td>{formatCost(m.cost)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </div>
  );
}
