/** A run's node spans on one time line: where each started, how long it took, what it cost. */
import { useState } from "react";
import type { RunTrace, WaterfallSpan } from "./api";
import { barGeometry, formatCost, formatMs, formatTokens, waterfallTotal } from "./format";

type ModelCall = RunTrace["model_calls"][number];

/** The gateway's ledger names for an answer from the response cache. */
const CACHES: Record<string, string> = { cache: "exact cache", "semantic-cache": "semantic cache" };

/** "answered from the semantic cache (similarity 0.93), saved $0.0004" for a cache hit; null otherwise. */
export function cacheNote(call: Pick<ModelCall, "served_by" | "attempts">): string | null {
  const cache = call.served_by ? CACHES[call.served_by] : undefined;
  if (!cache) return null;
  const note = (Array.isArray(call.attempts) ? call.attempts[0] : undefined) as { similarity?: number; saved?: string } | undefined;
  const similarity = typeof note?.similarity === "number" ? ` (similarity ${note.similarity.toFixed(2)})` : "";
  const saved = note?.saved !== undefined ? `, saved ${formatCost(note.saved)}` : "";
  return `answered from the ${cache}${similarity}${saved}`;
}

export function Waterfall({ spans, calls }: { spans: WaterfallSpan[]; calls: ModelCall[] }) {
  const [open, setOpen] = useState<string | null>(null);
  const total = waterfallTotal(spans);
  if (!spans.length) return <p className="muted">No node ran.</p>;
  return (
    <ol className="waterfall" aria-label="Trace">
      {spans.map((span) => {
        const { left, width } = barGeometry(span.offset_ms, span.duration_ms, total);
        const expanded = open === span.node;
        const mine = calls.filter((c) => span.model_calls.includes(c.id));
        const cached = mine.some((c) => cacheNote(c) !== null);
        return (
          <li key={span.node} className={`waterfall__row waterfall__row--${span.status}`} data-node={span.node}>
            <button
              type="button"
              className="waterfall__head"
              aria-expanded={expanded}
              onClick={() => setOpen(expanded ? null : span.node)}
            >
              {/* A step inside a node (an agent's step, a sub-flow's node: `agent/step2`) sits under it. */}
              <span className="waterfall__name" style={{ paddingLeft: `${(span.node.split("/").length - 1) * 0.75}rem` }}>
                {span.node}
                <span className="muted"> {span.node_type}</span>
                {cached ? (
                  <span className="badge badge--success" title="Answered from the response cache: no model was called">
                    {" "}
                    cached
                  </span>
                ) : null}
              </span>
              <span className="waterfall__track" aria-hidden="true">
                <span className="waterfall__bar" style={{ left: `${left}%`, width: `${width}%` }} />
              </span>
              <span className="waterfall__time">{formatMs(span.duration_ms)}</span>
            </button>
            {expanded ? (
              <div className="waterfall__detail">
                <dl className="definition-list">
                  <dt>Started</dt>
                  <dd>+{formatMs(span.offset_ms)}</dd>
                  <dt>Status</dt>
                  <dd>{span.status}</dd>
                  {span.input_tokens || span.output_tokens ? (
                    <>
                      <dt>Tokens</dt>
                      <dd>{formatTokens(span.input_tokens, span.output_tokens)}</dd>
                      <dt>Cost</dt>
                      <dd>{formatCost(span.cost)}</dd>
                    </>
                  ) : null}
                  {span.error_code ? (
                    <>
                      <dt>Error</dt>
                      <dd className="runs-error-text">
                        {span.error_code}
                        {span.error_message ? `: ${span.error_message}` : ""}
                      </dd>
                    </>
                  ) : null}
                </dl>
                {span.input_preview ? (
                  <>
                    <h4 className="waterfall__label">Input</h4>
                    <pre className="waterfall__preview">{span.input_preview}</pre>
                  </>
                ) : null}
                {span.output_preview ? (
                  <>
                    <h4 className="waterfall__label">Output</h4>
                    <pre className="waterfall__preview">{span.output_preview}</pre>
                  </>
                ) : null}
                {mine.map((call) => (
                  <div key={call.id} className="waterfall__call">
                    <strong>{call.alias}</strong>
                    {cacheNote(call) ? (
                      <>
                        {" "}
                        {cacheNote(call)} · {formatMs(call.latency_ms)}
                      </>
                    ) : (
                      <>
                    {call.served_by && call.served_by !== call.alias ? ` served by ${call.served_by} (fallback)` : ""} ·{" "}
                    {call.status} · first token {formatMs(call.ttft_ms)} · {formatMs(call.latency_ms)} ·{" "}
                    {formatTokens(call.input_tokens ?? 0, call.output_tokens ?? 0)} tokens · {formatCost(call.cost)}
                    {Array.isArray(call.attempts) && call.attempts.length ? (
                      <ul className="waterfall__attempts">
                        {(call.attempts as { alias?: string; error?: string }[]).map((a, i) => (
                          <li key={i}>
                            Attempt {i + 1}: {a.alias ?? "?"} — {a.error ?? "failed"}
                          </li>
                        ))}
                      </ul>
                    ) : null}
                      </>
                    )}
                  </div>
                ))}
              </div>
            ) : null}
          </li>
        );
      })}
    </ol>
  );
}
