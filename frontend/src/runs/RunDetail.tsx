/** One run: what was asked and answered, the error in words, the trace as a waterfall, the
 *  visitor's feedback, the stored events; open its version in the editor or replay it on the draft. */
import { useState } from "react";
import { Link } from "react-router";
import { api, unwrap } from "../api/client";
import { formatDateTime } from "../lib/format";
import { roleAtLeast } from "../lib/roles";
import { useCurrentOrg } from "../shell/session";
import { ErrorState, FormError, LoadingState } from "../ui/feedback";
import { ChevronLeftIcon } from "../ui/icons";
import { RunGuardHits } from "../guardrails/RunGuardHits";
import { Citations, citationsOf, Markdown } from "../ui/Markdown";
import { useReplay, useRunTrace, type RunTrace } from "./api";
import { formatCost, formatMs, formatTokens } from "./format";
import { Rating, StatusBadge } from "./RunsTable";
import { Waterfall } from "./Waterfall";

function inputText(inputs: unknown): string {
  if (inputs && typeof inputs === "object" && "message" in inputs) return String((inputs as { message: unknown }).message);
  return JSON.stringify(inputs, null, 2);
}

function Events({ orgId, runId }: { orgId: string; runId: string }) {
  const [events, setEvents] = useState<unknown[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  return (
    <details
      className="runs-events"
      onToggle={(e) => {
        if ((e.target as HTMLDetailsElement).open && events === null) {
          unwrap(api.GET("/api/v1/orgs/{org_id}/runs/{run_id}/events/", { params: { path: { org_id: orgId, run_id: runId } } })).then(
            (list) => setEvents(list),
            setError,
          );
        }
      }}
    >
      <summary>Streamed events</summary>
      <FormError error={error} />
      {events === null ? null : (
        <pre className="runs-events__list">
          {events.map((event) => JSON.stringify(event)).join("\n")}
        </pre>
      )}
    </details>
  );
}

export function RunDetail({ runId, onBack, onOpenRun }: { runId: string; onBack: () => void; onOpenRun: (id: string) => void }) {
  const org = useCurrentOrg();
  const trace = useRunTrace(org.id, runId);
  return (
    <section className="run-detail" aria-label="Run">
      <button type="button" className="btn btn--ghost btn--sm" onClick={onBack}>
        <ChevronLeftIcon size={15} />
        All runs
      </button>
      {trace.isPending ? (
        <LoadingState label="Loading the run…" />
      ) : trace.isError ? (
        <ErrorState error={trace.error} onRetry={() => void trace.refetch()} />
      ) : (
        <RunBody run={trace.data} canEdit={roleAtLeast(org.role, "editor")} orgId={org.id} onOpenRun={onOpenRun} />
      )}
    </section>
  );
}

function RunBody({ run, canEdit, orgId, onOpenRun }: {
  run: RunTrace;
  canEdit: boolean;
  orgId: string;
  onOpenRun: (id: string) => void;
}) {
  const replay = useReplay(orgId);
  const citations = citationsOf(run.output);
  const editorLink = `/o/${orgId}/flows/${run.flow}${run.version_number ? `?version=${run.version_number}` : ""}`;
  return (
    <>
      <header className="run-detail__header">
        <div>
          <h2 className="run-detail__title">
            {run.flow_name} <span className="muted">{run.version_number ? `v${run.version_number}` : "draft"}</span>
          </h2>
          <p className="muted run-detail__meta">
            <StatusBadge status={run.status ?? "running"} /> {run.source} · {formatDateTime(run.started_at)}
            {run.user ? ` · ${run.user}` : ""}
            {run.visitor_id ? ` · visitor ${run.visitor_id.slice(0, 8)}` : ""}
          </p>
        </div>
        <div className="run-detail__actions">
          <Link className="btn btn--secondary btn--sm" to={editorLink}>
            Open in editor{run.version_number ? ` at v${run.version_number}` : ""}
          </Link>
          {canEdit ? (
            <button
              type="button"
              className="btn btn--primary btn--sm"
              disabled={replay.isPending}
              onClick={() => replay.mutate({ flow: run.flow, inputs: run.inputs as Record<string, unknown> }, { onSuccess: (next) => onOpenRun((next as { id: string }).id) })}
            >
              {replay.isPending ? "Replaying…" : "Replay on draft"}
            </button>
          ) : null}
        </div>
      </header>
      <FormError error={replay.error} />
      {run.error ? (
        <div className="callout callout--danger run-detail__error" role="alert">
          <strong>{run.error.summary}</strong>
          {run.error.code ? <span className="muted"> ({run.error.code})</span> : null}
        </div>
      ) : null}
      <dl className="run-figures">
        <div>
          <dt>Latency</dt>
          <dd>{formatMs(run.latency_ms)}</dd>
        </div>
        <div>
          <dt>First token</dt>
          <dd>{formatMs(run.ttft_ms)}</dd>
        </div>
        <div>
          <dt>Tokens</dt>
          <dd>{formatTokens(run.input_tokens ?? 0, run.output_tokens ?? 0)}</dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd>{formatCost(run.cost)}</dd>
        </div>
        <div>
          <dt>Feedback</dt>
          <dd>
            <Rating rating={run.feedback?.rating} comment={run.feedback?.comment} />
          </dd>
        </div>
      </dl>
      <div className="run-detail__io">
        <div className="card">
          <div className="card__body">
            <h3 className="run-detail__label">Input</h3>
            <p className="run-detail__input">{inputText(run.inputs)}</p>
          </div>
        </div>
        <div className="card">
          <div className="card__body">
            <h3 className="run-detail__label">Output</h3>
            {run.output_text ? <Markdown text={run.output_text} /> : <p className="muted">No output.</p>}
            <Citations citations={citations} />
          </div>
        </div>
      </div>
      <h3 className="run-detail__label">Trace</h3>
      <Waterfall spans={run.waterfall} calls={run.model_calls} />
      <RunGuardHits orgId={orgId} runId={run.id} />
      <Events orgId={orgId} runId={run.id} />
    </>
  );
}
