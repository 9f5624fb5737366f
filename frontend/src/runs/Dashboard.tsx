/** The dashboard: figures for a time range, and per-day (per-hour for today) charts (runs and
 *  errors, latency, time to first token, cost, cost per active user, thumbs, cache hits, guard
 *  hits) drawn by uPlot; errors by code, guard hits by check, the top users by cost, per flow and
 *  per model alias below. Served from the hourly rollups. */
import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useSearchParams } from "react-router";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { ErrorState, LoadingState } from "../ui/feedback";
import { withParams } from "./filters";
import { formatCost, formatMs } from "./format";
import { TimeChart } from "./TimeChart";

type Stats = components["schemas"]["RunStatsOut"];
type Point = { key: string; label: string } & Partial<Stats["days"][number]>;

function useStats(orgId: string, days: number, flow: string, alias: string, version: string) {
  return useQuery({
    queryKey: ["orgs", orgId, "runs", "stats", { days, flow, alias, version }],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/runs/stats/", {
          params: {
            path: { org_id: orgId },
            query: {
              days,
              ...(flow ? { flow } : {}),
              ...(alias ? { alias } : {}),
              ...(flow && version ? { version } : {}),
            },
          },
        }),
      ),
    refetchInterval: 60_000,
  });
}

/** The chosen flow's versions, newest first (nothing asked while no flow is chosen). */
function useFlowVersions(orgId: string, flow: string) {
  return useQuery({
    queryKey: ["orgs", orgId, "flows", flow, "versions"],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/flows/{flow_id}/versions/", {
          params: { path: { org_id: orgId, flow_id: flow } },
        }),
      ),
    enabled: Boolean(flow),
  });
}

/** Per hour for today (the rollups' grain), per day otherwise. */
function points(stats: Stats, days: number): Point[] {
  if (days <= 1) {
    return stats.hours.map((h) => ({ ...h, key: h.hour, label: `${h.hour.slice(11, 16)} UTC` }));
  }
  return stats.days.map((d) => ({ ...d, key: d.day, label: d.day }));
}

const KINDS: Record<string, string> = { user: "Member", key: "API key", visitor: "Widget visitor" };

/** "60% up, 40% down (5 rated)" or that nothing was rated. */
function thumbsSummary(t: Stats["total"]): string {
  if (!t.rated) return "No ratings";
  return `${t.thumbs_up_share}% up, ${t.thumbs_down_rate}% down (${t.rated.toLocaleString()} rated)`;
}

export function Dashboard({ orgId, flows }: { orgId: string; flows: { id: string; name: string }[] }) {
  // The filters live in the URL (d-prefixed: the runs table's own filters share the page's query).
  const [params, setParams] = useSearchParams();
  const set = (changes: Record<string, string>) =>
    setParams((current) => withParams(current, changes), { replace: true });
  const days = [1, 7, 30, 90].includes(Number(params.get("ddays"))) ? Number(params.get("ddays")) : 7;
  const flow = params.get("dflow") ?? "";
  const alias = params.get("dalias") ?? "";
  const version = flow ? (params.get("dversion") ?? "") : "";
  const setDays = (value: number) => set({ ddays: value === 7 ? "" : String(value) });
  const setAlias = (value: string) => set({ dalias: value });
  const setVersion = (value: string) => set({ dversion: value });
  const [aliases, setAliases] = useState<string[]>([]);
  const stats = useStats(orgId, days, flow, alias, version);
  const versions = useFlowVersions(orgId, flow);
  const seen = stats.data?.models.map((m) => m.alias).join("\n") ?? "";
  useEffect(() => {
    // The aliases offered: every one the unfiltered figures named so far (a filtered answer names one).
    if (seen) setAliases((known) => Array.from(new Set([...known, ...seen.split("\n")])).sort());
  }, [seen]);
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
          <select
            className="select select--sm"
            value={flow}
            onChange={(e) => set({ dflow: e.target.value, dversion: "" /* a version is one flow's */ })}
          >
            <option value="">All flows</option>
            {flows.map((f) => (
              <option key={f.id} value={f.id}>
                {f.name}
              </option>
            ))}
          </select>
        </label>
        {flow ? (
          <label className="runs-filter">
            <span className="runs-filter__label">Version</span>
            <select
              className="select select--sm"
              value={version}
              onChange={(e) => setVersion(e.target.value)}
              disabled={versions.isPending}
              title="Every figure, model calls included, for the runs of one published version"
            >
              <option value="">{versions.isError ? "All versions (list unavailable)" : "All versions"}</option>
              {(versions.data ?? []).map((v) => (
                <option key={v.id} value={v.id}>
                  v{v.number}
                  {v.note ? ` — ${v.note}` : ""}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        <label className="runs-filter">
          <span className="runs-filter__label">Model alias</span>
          <select
            className="select select--sm"
            value={alias}
            onChange={(e) => setAlias(e.target.value)}
            title="Narrows the model-call figures: per model, cache hits and savings"
          >
            <option value="">All aliases</option>
            {aliases.map((a) => (
              <option key={a} value={a}>
                {a}
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
            <div>
              <dt>Active users</dt>
              <dd>{stats.data.total.active_users.toLocaleString()}</dd>
            </div>
            <div>
              <dt>Cost per active user</dt>
              <dd>{stats.data.total.cost_per_user === null ? "—" : formatCost(stats.data.total.cost_per_user)}</dd>
            </div>
            <div>
              <dt>Feedback</dt>
              <dd>{thumbsSummary(stats.data.total)}</dd>
            </div>
            <div>
              <dt>Cache hit rate</dt>
              <dd>
                {stats.data.total.model_calls
                  ? `${stats.data.total.cache_hit_rate}% of ${stats.data.total.model_calls.toLocaleString()} calls`
                  : "No model calls"}
              </dd>
            </div>
            <div>
              <dt>Saved by the cache</dt>
              <dd>{formatCost(stats.data.total.cache_saved)}</dd>
            </div>
          </dl>
          <div className="charts">
            <TimeChart title={days <= 1 ? "Runs per hour" : "Runs per day"} points={points(stats.data, days)} value={(d) => d.runs} format={(v) => String(v)} />
            <TimeChart title="Error rate (%)" points={points(stats.data, days)} value={(d) => d.error_rate} format={(v) => `${v.toFixed(1)}%`} />
            <TimeChart title="Latency p95" points={points(stats.data, days)} value={(d) => d.p95_latency_ms} format={formatMs} />
            <TimeChart title="First token p95" points={points(stats.data, days)} value={(d) => d.p95_ttft_ms} format={formatMs} />
            <TimeChart title={days <= 1 ? "Cost per hour" : "Cost per day"} points={points(stats.data, days)} value={(d) => Number(d.cost ?? 0)} format={formatCost} />
            <TimeChart title={days <= 1 ? "Active users per hour" : "Active users per day"} points={points(stats.data, days)} value={(d) => d.active_users} format={(v) => String(Math.round(v))} empty="No runs by members, API keys or visitors in this range." />
            <TimeChart title="Cost per active user" points={points(stats.data, days)} value={(d) => (d.cost_per_user === null || d.cost_per_user === undefined ? null : Number(d.cost_per_user))} format={formatCost} empty="No runs by members, API keys or visitors in this range." />
            <TimeChart title="Thumbs-down rate (%)" points={points(stats.data, days)} value={(d) => d.thumbs_down_rate} format={(v) => `${v.toFixed(0)}%`} empty="No thumbs given in this range." />
            <TimeChart title={days <= 1 ? "Rated answers per hour" : "Rated answers per day"} points={points(stats.data, days)} value={(d) => d.rated} format={(v) => String(Math.round(v))} empty="No thumbs given in this range." />
            <TimeChart title="Cache hit rate (%)" points={points(stats.data, days)} value={(d) => d.cache_hit_rate} format={(v) => `${v.toFixed(0)}%`} empty="No model calls in this range." />
            <TimeChart title="Saved by the cache" points={points(stats.data, days)} value={(d) => (d.cache_hits ? Number(d.cache_saved ?? 0) : null)} format={formatCost} empty="No answers from the cache in this range." />
            {days > 1 && !flow ? (
              <TimeChart title="Guard hits per day" points={points(stats.data, days)} value={(d) => d.guard_hits} format={(v) => String(v)} />
            ) : null}
          </div>
          <table className="table" aria-label="Top users by cost">
            <thead>
              <tr>
                <th scope="col">Top users by cost</th>
                <th scope="col">Kind</th>
                <th scope="col">Runs</th>
                <th scope="col">Cost</th>
              </tr>
            </thead>
            <tbody>
              {stats.data.users.length === 0 ? (
                <tr>
                  <td colSpan={4} className="muted">
                    No runs by members, API keys or visitors in this range.
                  </td>
                </tr>
              ) : (
                stats.data.users.map((u) => (
                  <tr key={`${u.kind}-${u.id}`}>
                    <td>{u.name}</td>
                    <td>{KINDS[u.kind] ?? u.kind}</td>
                    <td>{u.runs.toLocaleString()}</td>
                    <td>{formatCost(u.cost)}</td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
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
                  <th scope="col">Cache hits</th>
                  <th scope="col">Cost</th>
                </tr>
              </thead>
              <tbody>
                {stats.data.models.length === 0 ? (
                  <tr>
                    <td colSpan={6} className="muted">
                      No model calls in this range.
                    </td>
                  </tr>
                ) : null}
                {stats.data.models.map((m) => (
                  <tr key={m.alias}>
                    <td>{m.alias}</td>
                    <td>{m.calls}</td>
                    <td>{m.fallbacks}</td>
                    <td>{formatMs(m.p95_ttft_ms)}</td>
                    <td>{m.cache_hits ? `${m.cache_hits} (saved ${formatCost(m.cache_saved)})` : "0"}</td>
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
