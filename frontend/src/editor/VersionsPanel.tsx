/**
 * Publish with a note, the version history, diffs highlighted on the canvas with each changed
 * value's old and new text, restore, and roll back (after a confirmation).
 */
import { useEffect, useState } from "react";
import { isApiError, errorMessage } from "../lib/errors";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { GateOverride } from "../evaluation/GateOverride";
import { formatDateTime } from "../lib/format";
import { fetchDiff, restoreVersion, usePublish, useRollback, useVersions } from "./api";
import { useEditor, useEditorStoreApi } from "./context";
import { diffHighlights, type ValueChange } from "./graph";
import type { FlowDetail } from "./types";

interface Props {
  orgId: string;
  flowId: string;
  saveNow: () => Promise<boolean>;
  onRestored: (flow: FlowDetail) => void;
  onPublishedChange: (version: number | null) => void;
  /** Opened from a run (?version=N): show what changed from that version to the draft. */
  focusVersion?: number | null;
}

export function VersionsPanel({ orgId, flowId, saveNow, onRestored, onPublishedChange, focusVersion = null }: Props) {
  const store = useEditorStoreApi();
  const readOnly = useEditor((s) => s.readOnly);
  const highlights = useEditor((s) => s.highlights);
  const versions = useVersions(orgId, flowId);
  const publish = usePublish(orgId, flowId);
  const rollback = useRollback(orgId, flowId);
  const [note, setNote] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const [diffTitle, setDiffTitle] = useState<string | null>(null);
  const [restoring, setRestoring] = useState<number | null>(null);
  const [rollingBack, setRollingBack] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [refusal, setRefusal] = useState<unknown>(null); // an evaluation gate's (GateOverride)

  const onPublish = async () => {
    setMessage(null);
    setError(null);
    setRefusal(null);
    if (!(await saveNow())) {
      setError("Save the draft first (see the save status).");
      return;
    }
    try {
      const version = await publish.mutateAsync(note);
      setNote("");
      setMessage(`Published version ${version.number}.`);
      onPublishedChange(version.number);
    } catch (failure) {
      if (isApiError(failure, "flow_invalid")) {
        // The save just before returned the draft's issues; the canvas and Problems show them.
        setError(`Publish refused: ${failure.message} See Problems.`);
      } else setError(errorMessage(failure));
      setRefusal(failure);
    }
  };

  const showDiff = async (from: string, to: string) => {
    setError(null);
    try {
      if (to === "draft") await saveNow();
      const diff = await fetchDiff(orgId, flowId, from, to);
      const nodes = store.getState().nodes;
      store.getState().setHighlights(diffHighlights(diff, (id) => nodes.find((n) => n.id === id)?.data.label));
      setDiffTitle(`Changes from v${from} to ${to === "draft" ? "the draft" : `v${to}`}`);
    } catch (failure) {
      setError(errorMessage(failure));
    }
  };

  const [focused, setFocused] = useState(false);
  useEffect(() => {
    if (focusVersion === null || focused) return;
    setFocused(true);
    void showDiff(String(focusVersion), "draft");
  }, [focusVersion, focused]); // showDiff: once, when opened

  const onRollback = async () => {
    if (rollingBack === null) return;
    const number = rollingBack;
    setError(null);
    try {
      await rollback.mutateAsync(number);
      setMessage(`Version ${number} is published again.`);
      onPublishedChange(number);
      setRollingBack(null);
    } catch (failure) {
      setError(errorMessage(failure));
      setRollingBack(null);
    }
  };

  const onRestore = async () => {
    if (restoring === null) return;
    setBusy(true);
    try {
      await saveNow();
      const flow = await restoreVersion(orgId, flowId, restoring);
      onRestored(flow);
      setMessage(`Version ${restoring} restored into the draft.`);
      setRestoring(null);
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setBusy(false);
    }
  };

  const list = versions.data ?? [];
  return (
    <div className="panel-section" data-testid="versions">
      {!readOnly ? (
        <form
          className="publish-form"
          onSubmit={(e) => {
            e.preventDefault();
            void onPublish();
          }}
        >
          <label className="field__label" htmlFor="publish-note">
            Publish the draft
          </label>
          <input id="publish-note" className="input" placeholder="What changed (optional)" value={note} maxLength={500} onChange={(e) => setNote(e.target.value)} />
          <button type="submit" className="btn btn--primary btn--sm" disabled={publish.isPending}>
            {publish.isPending ? "Publishing…" : "Publish"}
          </button>
        </form>
      ) : null}
      {message ? <p className="ok-note" role="status">{message}</p> : null}
      {error ? <p className="form-error" role="alert">{error}</p> : null}
      <GateOverride
        flowId={flowId}
        note={note}
        refusal={refusal}
        onPublished={(version) => {
          setRefusal(null);
          setError(null);
          setNote("");
          setMessage(`Published version ${version.number} past the evaluation gate (audited).`);
          onPublishedChange(version.number);
          void versions.refetch();
        }}
      />
      {highlights ? (
        <section className="diff" data-testid="diff">
          <header className="diff__header">
            <h3 className="panel-subtitle">{diffTitle}</h3>
            <button type="button" className="btn btn--ghost btn--sm" onClick={() => store.getState().setHighlights(null)}>
              Clear
            </button>
          </header>
          {highlights.lines.length ? (
            <ul>
              {highlights.lines.map((line, i) => (
                <li key={i} className={`diff__line diff__line--${line.kind}`}>
                  <span className="diff__kind">{line.kind}</span> {line.what}
                  {line.changes?.length ? <ValueChanges changes={line.changes} /> : null}
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted small">No differences.</p>
          )}
        </section>
      ) : null}
      <h3 className="panel-subtitle">History</h3>
      {versions.isLoading ? <p className="muted small">Loading…</p> : null}
      {!versions.isLoading && !list.length ? <p className="muted small">Nothing published yet.</p> : null}
      <ol className="versions" aria-label="Versions">
        {list.map((version, i) => {
          const previous = list[i + 1];
          return (
            <li key={version.id} className="version" data-testid={`version-${version.number}`}>
              <div className="version__head">
                <strong>v{version.number}</strong>
                {version.published ? <span className="badge badge--success">Published</span> : null}
                <span className="muted small">{formatDateTime(version.created_at)}</span>
              </div>
              {version.note ? <p className="version__note">{version.note}</p> : null}
              <div className="version__actions">
                {previous ? (
                  <button type="button" className="btn btn--ghost btn--sm" onClick={() => void showDiff(String(previous.number), String(version.number))}>
                    Diff with v{previous.number}
                  </button>
                ) : null}
                <button type="button" className="btn btn--ghost btn--sm" onClick={() => void showDiff(String(version.number), "draft")}>
                  Diff with draft
                </button>
                {!readOnly ? (
                  <button type="button" className="btn btn--ghost btn--sm" onClick={() => setRestoring(version.number)}>
                    Restore
                  </button>
                ) : null}
                {!readOnly && !version.published ? (
                  <button type="button" className="btn btn--secondary btn--sm" onClick={() => setRollingBack(version.number)}>
                    Roll back to v{version.number}
                  </button>
                ) : null}
              </div>
            </li>
          );
        })}
      </ol>
      {rollingBack !== null ? (
        <ConfirmDialog
          title={`Roll back to version ${rollingBack}?`}
          confirmLabel={`Publish v${rollingBack} again`}
          onConfirm={() => void onRollback()}
          onCancel={() => setRollingBack(null)}
          pending={rollback.isPending}
        >
          Version {rollingBack} becomes the published version at once: widgets, API clients and the OpenAI-compatible
          endpoint answer with it from their next message. The draft does not change, and you can roll forward again
          from this list.
        </ConfirmDialog>
      ) : null}
      {restoring !== null ? (
        <ConfirmDialog
          title={`Restore version ${restoring}?`}
          confirmLabel="Restore into draft"
          onConfirm={() => void onRestore()}
          onCancel={() => setRestoring(null)}
          pending={busy}
          danger={false}
        >
          The draft is replaced by version {restoring}'s graph. The published version does not change; undo is not
          possible, but the current draft can be found again by publishing it first.
        </ConfirmDialog>
      ) : null}
    </div>
  );
}

const CLIP = 400;

function Value({ text, className }: { text: string | null; className: string }) {
  if (text === null) return <span className={`${className} diff__unset`}>not set</span>;
  const shown = text.length > CLIP ? `${text.slice(0, CLIP)}…` : text;
  return (
    <span className={className} title={text.length > CLIP ? text : undefined}>
      {shown === "" ? "(empty)" : shown}
    </span>
  );
}

/** Each changed field with its old value (struck through) and its new one. */
function ValueChanges({ changes }: { changes: ValueChange[] }) {
  return (
    <div className="diff__values">
      {changes.map((change) => (
        <div key={change.field} data-testid={`diff-value-${change.field}`}>
          <span className="diff__field">{change.field}</span>
          <Value text={change.before} className="diff__old" />
          <Value text={change.after} className="diff__new" />
        </div>
      ))}
    </div>
  );
}
