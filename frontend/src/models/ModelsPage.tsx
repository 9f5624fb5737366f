/** Models: endpoints and managed deployments with live status, start/stop/restart, a log that
 * follows, a streamed test prompt, and per-model charts of requests, tokens/s, time to first token, cost. */
import { useEffect, useRef, useState } from "react";
import { roleAtLeast } from "../lib/roles";
import { useCurrentOrg } from "../shell/session";
import { EmptyState, ErrorState, LoadingState } from "../ui/feedback";
import { PageHeader } from "../ui/PageHeader";
import {
  fetchLog,
  series,
  statusTone,
  useDeploymentAction,
  useDeployments,
  useEndpoints,
  useModelStats,
  type Deployment,
} from "./api";
import { TestPrompt } from "./TestPrompt";
import "./models.css";

const LOG_POLL_MS = 1500;

function fallbackText(fallbacks: unknown): string {
  return Array.isArray(fallbacks) ? fallbacks.map(String).join(", ") : "";
}

export function ModelsPage() {
  const org = useCurrentOrg();
  const isAdmin = roleAtLeast(org.role, "admin");
  const endpoints = useEndpoints(org.id);
  const deployments = useDeployments(org.id);
  const [logOf, setLogOf] = useState<Deployment | null>(null);

  return (
    <div className="models-page">
      <PageHeader title="Models" description="Every model call goes through the gateway: aliases, fallbacks, budgets." />
      <section>
        <h2>Deployments</h2>
        {deployments.isPending ? (
          <LoadingState label="Loading deployments" />
        ) : deployments.isError ? (
          <ErrorState error={deployments.error} />
        ) : deployments.data.length === 0 ? (
          <EmptyState title="No deployments">Admins deploy a local model folder with vLLM through the API.</EmptyState>
        ) : (
          <table className="models-table">
            <thead>
              <tr>
                <th>Status</th>
                <th>Name</th>
                <th>Served as</th>
                <th>Address</th>
                <th>Starts</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {deployments.data.map((d) => (
                <DeploymentRow key={d.id} orgId={org.id} deployment={d} canAct={isAdmin} onLog={() => setLogOf(d)} />
              ))}
            </tbody>
          </table>
        )}
      </section>
      {logOf && isAdmin && <LogViewer orgId={org.id} deployment={logOf} onClose={() => setLogOf(null)} />}
      <section>
        <h2>Endpoints</h2>
        {endpoints.isPending ? (
          <LoadingState label="Loading models" />
        ) : endpoints.isError ? (
          <ErrorState error={endpoints.error} />
        ) : (
          <ul className="models-endpoints">
            {endpoints.data.map((e) => (
              <li key={e.id}>
                <strong>{e.alias}</strong> <span className="models-muted">{e.model}</span>{" "}
                {fallbackText(e.fallbacks) && <span className="models-muted">then {fallbackText(e.fallbacks)}</span>}
              </li>
            ))}
          </ul>
        )}
      </section>
      {endpoints.data && endpoints.data.length > 0 && roleAtLeast(org.role, "editor") && (
        <TestPrompt orgId={org.id} endpoints={endpoints.data.map((e) => ({ id: e.id, alias: e.alias }))} />
      )}
      <Charts orgId={org.id} />
    </div>
  );
}

function DeploymentRow(props: { orgId: string; deployment: Deployment; canAct: boolean; onLog: () => void }) {
  const { deployment: d } = props;
  const act = useDeploymentAction(props.orgId);
  const editable = props.canAct && !d.instance_owned;
  return (
    <tr>
      <td>
        <span className={`models-light models-light-${statusTone(d.status ?? "stopped")}`} aria-label={d.status} />
        {d.status}
        {d.status_reason && <div className="models-reason">{d.status_reason}</div>}
      </td>
      <td>
        {d.name}
        {d.instance_owned && <span className="models-muted"> (instance)</span>}
      </td>
      <td>{d.served_name}</td>
      <td>{d.base_url}</td>
      <td>{d.start_count}</td>
      <td className="models-actions">
        {editable &&
          (["start", "stop", "restart"] as const).map((action) => (
            <button key={action} type="button" disabled={act.isPending} onClick={() => act.mutate({ id: d.id, action })}>
              {action}
            </button>
          ))}
        {props.canAct && (
          <button type="button" onClick={props.onLog}>
            log
          </button>
        )}
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
    <section className="models-log">
      <h2>
        Log of {props.deployment.name}{" "}
        <button type="button" onClick={props.onClose}>
          close
        </button>
      </h2>
      <pre ref={box}>{text || "(empty)"}</pre>
    </section>
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
    <section className="models-charts">
      <h2>Last 24 hours</h2>
      {CHARTS.map(([field, label]) => (
        <div key={field} className="models-chart">
          <h3>{label}</h3>
          {[...series(stats.data, field)].map(([alias, values]) => (
            <div key={alias} className="models-spark">
              <span>{alias}</span>
              <Sparkline values={values} />
              <span className="models-muted">{values[values.length - 1]}</span>
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
