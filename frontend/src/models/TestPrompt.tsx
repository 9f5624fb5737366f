/** The Models page's test prompt: the answer streams in token by token through the gateway
 * (budgets and the ledger apply), with a Stop button that ends the model call. */
import { useEffect, useRef, useState } from "react";
import { ApiError } from "../lib/errors";
import { ErrorState } from "../ui/feedback";
import { isAbort, STREAM_CUT, streamTestPrompt, type TestDone } from "./api";
import { formatCost, testFigures } from "./presets";

const MAX_TOKENS = 64;

type Phase = "idle" | "streaming" | "done" | "stopped" | "failed";

/** A title that says what went wrong, above the server's own message. */
export function failureTitle(error: unknown): string {
  if (!(error instanceof ApiError)) return "The test prompt failed";
  switch (error.code) {
    case "model_unavailable":
      return "The model cannot be reached";
    case "model_timeout":
      return "The model took too long to answer";
    case "budget_exceeded":
      return "The organization's model budget is spent";
    case "rate_limited":
      return "Too many model calls this minute";
    case "context_window_exceeded":
      return "The prompt is too long for this model";
    case STREAM_CUT:
      return "The answer was cut off";
    default:
      return "The test prompt failed";
  }
}

export interface TestTarget {
  id: number;
  alias: string;
  price_input_per_1k?: string | number;
  price_output_per_1k?: string | number;
}

export function TestPrompt(props: { orgId: string; endpoints: TestTarget[]; selectedId?: number | null }) {
  const [id, setId] = useState(props.selectedId ?? props.endpoints[0]?.id ?? 0);
  const [prompt, setPrompt] = useState("Say hello.");
  const [phase, setPhase] = useState<Phase>("idle");
  const [text, setText] = useState("");
  const [result, setResult] = useState<TestDone | null>(null);
  const [error, setError] = useState<unknown>(null);
  const controller = useRef<AbortController | null>(null);

  useEffect(() => () => controller.current?.abort(), []); // leaving the page stops the model
  useEffect(() => {
    if (props.selectedId != null) setId(props.selectedId); // "Test" on a row picks its model
  }, [props.selectedId]);
  const target = props.endpoints.find((e) => e.id === id);
  const figures =
    result && target ? testFigures(result, { in: target.price_input_per_1k ?? 0, out: target.price_output_per_1k ?? 0 }) : null;

  const send = async () => {
    controller.current?.abort();
    const abort = new AbortController();
    controller.current = abort;
    setPhase("streaming");
    setText("");
    setResult(null);
    setError(null);
    try {
      const done = await streamTestPrompt(
        props.orgId,
        id,
        { prompt, max_tokens: MAX_TOKENS },
        { signal: abort.signal, onToken: (token) => setText((old) => old + token) },
      );
      if (controller.current !== abort) return;
      setText(done.text);
      setResult(done);
      setPhase("done");
    } catch (cause) {
      if (controller.current !== abort) return; // a newer prompt took over
      if (isAbort(cause) || abort.signal.aborted) {
        setPhase("stopped");
      } else {
        setError(cause);
        setPhase("failed");
      }
    } finally {
      if (controller.current === abort) controller.current = null;
    }
  };

  const streaming = phase === "streaming";
  return (
    <section className="models-test card" aria-labelledby="test-prompt-title">
      <h2 id="test-prompt-title" className="section__title">
        Test prompt
      </h2>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void send();
        }}
      >
        <select className="select" value={id} onChange={(event) => setId(Number(event.target.value))} aria-label="Model">
          {props.endpoints.map((e) => (
            <option key={e.id} value={e.id}>
              {e.alias}
            </option>
          ))}
        </select>
        <input className="input" value={prompt} onChange={(event) => setPrompt(event.target.value)} aria-label="Prompt" />
        <button type="submit" className="btn btn--primary" disabled={streaming || !prompt.trim()}>
          Send
        </button>
        {streaming && (
          <button type="button" className="btn btn--secondary" onClick={() => controller.current?.abort()}>
            Stop
          </button>
        )}
      </form>
      {/* Refused before any token: the error alone (an empty answer box stood above it). */}
      {(text || (phase !== "idle" && phase !== "failed")) && (
        <p className="models-answer" aria-live="polite" aria-busy={streaming} data-testid="test-answer">
          {text}
          {streaming && <span className="models-caret" aria-hidden="true" />}
          {phase === "done" && result && (
            <span className="models-muted">
              {" "}
              — {result.input_tokens} in / {result.output_tokens} out tokens in {result.latency_ms} ms
              {result.ttft_ms != null && <>, first token after {result.ttft_ms} ms</>}
            </span>
          )}
          {phase === "stopped" && <span className="models-muted"> — stopped</span>}
        </p>
      )}
      {phase === "done" && figures ? (
        <dl className="test-figures" data-testid="test-figures">
          <div>
            <dt>Time to first token</dt>
            <dd>{figures.ttftMs != null ? `${Math.round(figures.ttftMs)} ms` : "—"}</dd>
          </div>
          <div>
            <dt>Tokens / s</dt>
            <dd>{figures.tokensPerS != null ? figures.tokensPerS.toFixed(1) : "—"}</dd>
          </div>
          <div>
            <dt>Cost</dt>
            <dd>{formatCost(figures.cost)}</dd>
          </div>
        </dl>
      ) : null}
      {phase === "failed" && <ErrorState error={error} title={failureTitle(error)} />}
    </section>
  );
}
