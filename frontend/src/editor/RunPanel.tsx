/** The playground: chat with the draft or a version, streamed tokens, cancel, the run's trace. */
import { useEffect, useRef, useState } from "react";
import { Dialog } from "../ui/Dialog";
import { Citations, Markdown } from "../ui/Markdown";
import { errorMessage } from "../lib/errors";
import { fetchRun } from "./api";
import { useEditor } from "./context";
import type { FlowVersion, RunDetail } from "./types";
import type { useRun } from "./useRun";

interface Props {
  orgId: string;
  run: ReturnType<typeof useRun>;
  versions: FlowVersion[];
  saveNow: () => Promise<boolean>;
}

export function RunPanel({ orgId, run, versions, saveNow }: Props) {
  const [message, setMessage] = useState("");
  const [target, setTarget] = useState("draft");
  const [trace, setTrace] = useState<string | null>(null);
  const focusNode = useEditor((s) => s.focusNode);
  const log = useRef<HTMLDivElement>(null);

  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [run.turns]);

  const send = async () => {
    const text = message.trim();
    if (!text || run.busy) return;
    if (target === "draft") await saveNow();
    setMessage("");
    run.start(text, target);
  };

  return (
    <div className="panel-section playground" data-testid="playground">
      <div className="playground__bar">
        <label className="small" htmlFor="run-target">
          Run
        </label>
        <select id="run-target" className="select select--sm" value={target} onChange={(e) => setTarget(e.target.value)}>
          <option value="draft">Draft</option>
          <option value="published">Published</option>
          {versions.map((v) => (
            <option key={v.id} value={String(v.number)}>
              v{v.number}
            </option>
          ))}
        </select>
        <span className={`conn conn--${run.status}`} title={`Socket ${run.status}`}>
          <span className="conn__dot" />
        </span>
        <button type="button" className="btn btn--ghost btn--sm" onClick={run.reset} disabled={run.busy}>
          New chat
        </button>
      </div>
      <div className="playground__log" ref={log} aria-live="polite" data-testid="chat-log">
        {run.turns.length === 0 ? <p className="muted small">Send a message to run the flow. Each node shows its state on the canvas.</p> : null}
        {run.turns.map((turn, i) => (
          <div key={i} className={`turn turn--${turn.role}`} data-testid={`turn-${turn.role}`}>
            {turn.role === "error" ? (
              <p role="alert">
                {turn.text}
                {turn.failedNode ? (
                  <button type="button" className="btn btn--ghost btn--sm" onClick={() => focusNode(turn.failedNode as string)}>
                    Show node
                  </button>
                ) : null}
              </p>
            ) : (
              <>
                {turn.role === "assistant" && turn.text ? (
                  <Markdown text={turn.text} className="turn__text markdown" />
                ) : (
                  <p className="turn__text">{turn.text || (turn.status === "running" ? "…" : "")}</p>
                )}
                {turn.citations?.length ? <Citations citations={turn.citations} /> : null}
              </>
            )}
            {turn.role === "assistant" ? (
              <div className="turn__meta small">
                {turn.status === "running" ? <span>Running…</span> : <span data-testid="run-status">{turn.status}</span>}
                {turn.meta?.latencyMs !== undefined ? <span>{Math.round(turn.meta.latencyMs)} ms</span> : null}
                {turn.meta?.tokens !== undefined ? <span>{turn.meta.tokens} tokens</span> : null}
                {turn.runId ? (
                  <button type="button" className="linklike" onClick={() => setTrace(turn.runId ?? null)}>
                    Trace
                  </button>
                ) : null}
              </div>
            ) : null}
          </div>
        ))}
      </div>
      <form
        className="playground__input"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <textarea
          className="input"
          rows={2}
          aria-label="Message"
          placeholder="Message"
          value={message}
          onChange={(e) => setMessage(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) {
              e.preventDefault();
              void send();
            }
          }}
        />
        {run.busy ? (
          <button type="button" className="btn btn--danger btn--sm" onClick={run.cancel} disabled={!run.runId}>
            Cancel
          </button>
        ) : (
          <button type="submit" className="btn btn--primary btn--sm" disabled={!message.trim()}>
            Send
          </button>
        )}
      </form>
      {trace ? <TraceDialog orgId={orgId} runId={trace} onClose={() => setTrace(null)} /> : null}
    </div>
  );
}

function TraceDialog({ orgId, runId, onClose }: { orgId: string; runId: string; onClose: () => void }) {
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    fetchRun(orgId, runId).then(setDetail, (e: unknown) => setError(errorMessage(e)));
  }, [orgId, runId]);
  const spans = (detail?.spans ?? []) as Record<string, unknown>[];
  return (
    <Dialog title="Run trace" description={<code>{runId}</code>} onClose={onClose} size="md">
      <div className="dialog__body trace" data-testid="trace">
        {error ? <p className="form-error">{error}</p> : null}
        {!detail && !error ? <p className="muted">Loading…</p> : null}
        {detail ? (
          <>
            <p className="small">
              {detail.status} · {detail.latency_ms ?? "—"} ms · first token {detail.ttft_ms ?? "—"} ms · {detail.input_tokens} in /{" "}
              {detail.output_tokens} out tokens
              {detail.error_message ? ` · ${detail.error_message}` : ""}
            </p>
            <table className="table">
              <thead>
                <tr>
                  <th>Node</th>
                  <th>Status</th>
                  <th>Latency</th>
                  <th>Tokens</th>
                </tr>
              </thead>
              <tbody>
                {spans.map((span) => (
                  <tr key={String(span.node)}>
                    <td>
                      <code>{String(span.node)}</code> <span className="muted">{String(span.node_type ?? "")}</span>
                    </td>
                    <td>{String(span.status)}</td>
                    <td>{span.latency_ms == null ? "—" : `${Math.round(Number(span.latency_ms))} ms`}</td>
                    <td>
                      {String(span.input_tokens ?? 0)} / {String(span.output_tokens ?? 0)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ) : null}
      </div>
    </Dialog>
  );
}
