/** The runs table: one row a run, newest first; a click opens its trace. */
import { formatDateTime } from "../lib/format";
import { Badge } from "../ui/Badge";
import type { RunRow } from "./api";
import { formatCost, formatMs } from "./format";

const SOURCE_LABELS: Record<string, string> = {
  playground: "Playground",
  api: "API",
  openai: "OpenAI API",
  widget: "Widget",
  evaluation: "Evaluation",
};

export function StatusBadge({ status }: { status: string }) {
  const tone = status === "completed" ? "success" : status === "failed" ? "danger" : status === "running" ? "brand" : "neutral";
  return <Badge tone={tone}>{status}</Badge>;
}

export function Rating({ rating, comment }: { rating: number | null | undefined; comment?: string | null }) {
  if (rating === null || rating === undefined) return <span className="muted">—</span>;
  const label = rating > 0 ? "Thumbs up" : "Thumbs down";
  return (
    <span className={`rating rating--${rating > 0 ? "up" : "down"}`} title={comment || label} aria-label={label}>
      {rating > 0 ? "👍" : "👎"}
      {comment ? <span className="rating__comment">{comment}</span> : null}
    </span>
  );
}

export function RunsTable({ runs, onOpen }: { runs: RunRow[]; onOpen: (id: string) => void }) {
  return (
    <div className="table-wrap">
      <table className="table runs-table" aria-label="Runs">
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">Flow</th>
            <th scope="col">Question</th>
            <th scope="col">Status</th>
            <th scope="col" className="runs-table__num">Latency</th>
            <th scope="col" className="runs-table__num runs-table__wide">First token</th>
            <th scope="col" className="runs-table__num runs-table__wide">Tokens</th>
            <th scope="col" className="runs-table__num">Cost</th>
            <th scope="col">Feedback</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => (
            <tr
              key={run.id}
              className="runs-table__row"
              data-run={run.id}
              tabIndex={0}
              onClick={() => onOpen(run.id)}
              onKeyDown={(e) => {
                if (e.key === "Enter") onOpen(run.id);
              }}
            >
              <td className="nowrap">{formatDateTime(run.started_at)}</td>
              <td>
                <div className="runs-table__flow">{run.flow_name}</div>
                <div className="muted runs-table__meta">
                  {run.version_number ? `v${run.version_number}` : "draft"} · {SOURCE_LABELS[run.source ?? ""] ?? run.source}
                </div>
              </td>
              <td className="runs-table__text">
                <div className="runs-table__question">{run.input_preview || <span className="muted">(no input)</span>}</div>
                {run.error_code ? (
                  <div className="runs-table__error">{run.error_code}</div>
                ) : run.output_preview ? (
                  <div className="muted runs-table__answer">{run.output_preview}</div>
                ) : null}
              </td>
              <td>
                <StatusBadge status={run.status ?? "running"} />
              </td>
              <td className="runs-table__num nowrap">{formatMs(run.latency_ms)}</td>
              <td className="runs-table__num runs-table__wide nowrap">{formatMs(run.ttft_ms)}</td>
              <td className="runs-table__num runs-table__wide nowrap">
                {((run.input_tokens ?? 0) + (run.output_tokens ?? 0)).toLocaleString()}
              </td>
              <td className="runs-table__num nowrap">{formatCost(run.cost)}</td>
              <td>
                <Rating rating={run.rating} comment={run.feedback_comment} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
