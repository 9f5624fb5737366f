/** The `format: "knowledge-base"` config field: a select over the organization's knowledge bases. */
import { Link } from "react-router";
import { useKnowledgeBases, type KnowledgeBase } from "../knowledge/api";
import { errorMessage } from "../lib/errors";
import { orgPath } from "../lib/routes";

interface KnowledgeBasePickerProps {
  orgId: string;
  id: string;
  value: string;
  /** Receives the chosen id, or "" when the placeholder is chosen. */
  onChange: (id: string) => void;
  disabled: boolean;
  "aria-invalid"?: boolean;
  "aria-describedby"?: string;
}

/** "12 documents · 2 in progress · 1 failed", as the Knowledge page words it. */
export function knowledgeBaseSummary(kb: KnowledgeBase): string {
  const parts = [kb.document_count === 1 ? "1 document" : `${kb.document_count} documents`];
  if (kb.active_count > 0) parts.push(`${kb.active_count} in progress`);
  if (kb.failed_count > 0) parts.push(`${kb.failed_count} failed`);
  return parts.join(" · ");
}

export function KnowledgeBasePicker({ orgId, id, value, onChange, disabled, ...aria }: KnowledgeBasePickerProps) {
  const query = useKnowledgeBases(orgId);
  const list = query.data ?? [];
  const selected = list.find((kb) => kb.id === value);
  // Only claim an id is gone once the list is actually known.
  const missing = Boolean(value) && query.isSuccess && !selected;
  const unloaded = Boolean(value) && !query.isSuccess;
  const empty = query.isSuccess && list.length === 0;
  const knowledgePath = orgPath(orgId, "knowledge");

  const placeholder = query.isPending
    ? "Loading knowledge bases…"
    : query.isError
      ? "Knowledge bases unavailable"
      : empty
        ? "No knowledge bases yet"
        : "Choose a knowledge base";

  return (
    <>
      <select
        className="select"
        id={id}
        data-testid="kb-picker"
        {...aria}
        disabled={disabled || (!query.isSuccess && !value) || (empty && !value)}
        aria-busy={query.isFetching || undefined}
        value={value}
        onChange={(e) => onChange(e.target.value)}
      >
        <option value="">{placeholder}</option>
        {missing ? <option value={value}>{`Deleted knowledge base (${value.slice(0, 8)}…)`}</option> : null}
        {unloaded ? <option value={value}>{value}</option> : null}
        {list.map((kb) => (
          <option key={kb.id} value={kb.id}>
            {`${kb.name} (${knowledgeBaseSummary(kb)})`}
          </option>
        ))}
      </select>
      {query.isError ? (
        <div className="form-error sform__kb-note" role="alert">
          <span>Could not load knowledge bases: {errorMessage(query.error)}</span>{" "}
          <button type="button" className="btn btn--secondary btn--sm" onClick={() => void query.refetch()}>
            Try again
          </button>
        </div>
      ) : null}
      {missing ? (
        <p className="form-error sform__kb-note" role="alert" data-testid="kb-missing">
          Knowledge base <code>{value}</code> no longer exists in this organization. Choose another one.
        </p>
      ) : null}
      {empty ? (
        <p className="field__hint sform__kb-note" data-testid="kb-empty">
          No knowledge bases yet — create one on the <Link to={knowledgePath}>Knowledge page</Link>.
        </p>
      ) : null}
      {selected && selected.ready_count === 0 ? (
        <p className="field__hint sform__kb-note" data-testid="kb-not-ready">
          {selected.document_count === 0 ? "This knowledge base has no documents yet" : "No documents are ready yet"}; retrieval
          finds nothing until some are. <Link to={knowledgePath}>Open the Knowledge page</Link>
        </p>
      ) : null}
    </>
  );
}
