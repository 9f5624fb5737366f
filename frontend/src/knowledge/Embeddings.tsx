/** The embedding model of a knowledge base: chosen when it is created (EmbeddingModelSelect), and
 * moved onto another one by a re-embed job with live progress (ReembedPanel). */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Dialog } from "../ui/Dialog";
import { ErrorState, FormError, LoadingState } from "../ui/feedback";
import {
  kbKeys,
  REEMBED_ACTIVE,
  useEmbeddingModels,
  useReembedAction,
  useReembedJob,
  useStartReembed,
  type EmbeddingModel,
  type KnowledgeBase,
} from "./api";

export const modelLabel = (model: EmbeddingModel) =>
  model.dimensions ? `${model.name} · ${model.dimensions} dimensions` : `${model.name} · not answering`;

/** A select of the embedding models; those that do not answer now are listed, disabled, with why. */
export function EmbeddingModelSelect({
  orgId,
  value,
  onChange,
  exclude,
  label = "Embedding model",
}: {
  orgId: string;
  value: string;
  onChange: (id: string) => void;
  exclude?: string;
  label?: string;
}) {
  const models = useEmbeddingModels(orgId);
  if (models.isPending) return <LoadingState label="Asking the embedding models for their size…" />;
  if (models.isError) return <ErrorState error={models.error} />;
  const choices = models.data.filter((m) => m.id !== exclude);
  const chosen = models.data.find((m) => m.id === value);
  const down = choices.filter((m) => m.problem);
  return (
    <div className="field">
      <label className="field">
        <span>{label}</span>
        <select className="input" value={value} onChange={(e) => onChange(e.target.value)} aria-label={label}>
          {!chosen && <option value="">Choose a model…</option>}
          {choices.map((m) => (
            <option key={m.id} value={m.id} disabled={!m.dimensions}>
              {m.id === "local" ? modelLabel(m) : `${m.id} — ${modelLabel(m)}`}
            </option>
          ))}
        </select>
      </label>
      <p className="muted kb-hint">
        Documents and questions are embedded by the same model. Add an OpenAI-compatible embedding endpoint (a provider,
        Ollama, or a vLLM embedding deployment) under Models → Endpoints to see it here.
      </p>
      {down.map((m) => (
        <p key={m.id} className="kb-error" role="note">
          {m.id}: {m.problem}
        </p>
      ))}
    </div>
  );
}

const STATUS_TEXT: Record<string, string> = {
  queued: "Waiting for a worker…",
  running: "Re-embedding",
  failed: "Stopped by an error",
  cancelled: "Cancelled",
  done: "Switched",
};

/** The base's model and its re-embed job: start, progress, cancel, resume. */
export function ReembedPanel({ orgId, kb }: { orgId: string; kb: KnowledgeBase }) {
  const state = useReembedJob(orgId, kb.id);
  const action = useReembedAction(orgId, kb.id);
  const [choosing, setChoosing] = useState(false);
  const queryClient = useQueryClient();
  const job = state.data?.job ?? null;
  const active = job !== null && REEMBED_ACTIVE.has(job.status);
  const switched = job?.status === "done" && job.target_model !== kb.embedding_model;
  useEffect(() => {
    // the base switched (seen by the socket or the poll): its model and size come from the base
    if (switched) void queryClient.invalidateQueries({ queryKey: kbKeys.all(orgId) });
  }, [switched, orgId, queryClient]);
  return (
    <section className="card card__body kb-section" aria-label="Embedding model">
      <div className="kb-embedding">
        <div>
          <h3>Embedding model</h3>
          <p className="muted">
            <strong>{kb.embedding_model === "local" ? "all-MiniLM-L6-v2 (built in)" : kb.embedding_model}</strong> ·{" "}
            {kb.embedding_dims} dimensions
          </p>
        </div>
        {!active && job?.status !== "failed" && (
          <button type="button" className="btn" onClick={() => setChoosing(true)}>
            Re-embed with another model…
          </button>
        )}
      </div>
      {state.isError && <ErrorState error={state.error} />}
      {job && (job.status !== "cancelled" || action.isSuccess) && (
        <div className="kb-reembed" role="status" aria-label="Re-embed job">
          <p>
            <strong>{STATUS_TEXT[job.status] ?? job.status}</strong>: {job.from_model} → {job.target_model} (
            {job.target_dims} dimensions)
            {job.status === "done" && job.finished_at ? ` on ${new Date(job.finished_at).toLocaleString()}` : ""}
          </p>
          {(active || job.status === "failed") && (
            <p>
              <progress
                className="kb-reembed__bar"
                max={Math.max(1, job.total)}
                value={job.done}
                aria-label="Re-embed progress"
              />{" "}
              {job.done} / {job.total} chunks
            </p>
          )}
          {active && <p className="muted">Search answers from the current model until every chunk has its new vector.</p>}
          {job.status === "failed" && <p className="kb-error">{job.error_message}</p>}
          {(active || job.status === "failed") && (
            <div className="kb-reembed__actions">
              {job.status === "failed" && (
                <button type="button" className="btn btn--primary" disabled={action.isPending} onClick={() => action.mutate("resume")}>
                  Resume
                </button>
              )}
              <button type="button" className="btn" disabled={action.isPending} onClick={() => action.mutate("cancel")}>
                Cancel re-embed
              </button>
            </div>
          )}
          <FormError error={action.error} />
        </div>
      )}
      {choosing && <ReembedDialog orgId={orgId} kb={kb} onClose={() => setChoosing(false)} />}
    </section>
  );
}

function ReembedDialog({ orgId, kb, onClose }: { orgId: string; kb: KnowledgeBase; onClose: () => void }) {
  const start = useStartReembed(orgId, kb.id);
  const [target, setTarget] = useState("");
  return (
    <Dialog title="Re-embed with another model" onClose={onClose} dismissable={!start.isPending} size="md">
      <form
        className="form"
        onSubmit={(event) => {
          event.preventDefault();
          if (target) start.mutate(target, { onSuccess: onClose });
        }}
      >
        <EmbeddingModelSelect orgId={orgId} value={target} onChange={setTarget} exclude={kb.embedding_model} label="New model" />
        <p className="kb-notice">
          Every chunk is embedded again by the new model, as a background job you can follow here. Search keeps using the
          current model until all are done, then switches at once.
        </p>
        <FormError error={start.error} />
        <div className="dialog__footer">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn--primary" disabled={!target || start.isPending}>
            {start.isPending ? "Starting…" : "Start re-embedding"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
