/** Conversations: each chat (a widget visitor's, or a member's playground or API session) as a
 *  transcript with the visitor's feedback inline; "only thumbs-down"; export JSONL or CSV. */
import { useEffect, useState } from "react";
import { formatDateTime } from "../lib/format";
import { EmptyState, ErrorState, LoadingState } from "../ui/feedback";
import { ChevronLeftIcon, RunsIcon } from "../ui/icons";
import { Citations, Markdown, type Citation } from "../ui/Markdown";
import {
  exportUrl,
  useConversation,
  useConversations,
  useWidgetNames,
  type ConversationFilters,
} from "./conversationsApi";
import { formatCost, formatMs } from "./format";
import { Rating } from "./RunsTable";

export function ConversationList({ orgId, filters, flows, onFilters, onOpen }: {
  orgId: string;
  filters: ConversationFilters;
  flows: { id: string; name: string }[];
  onFilters: (next: ConversationFilters) => void;
  onOpen: (id: string) => void;
}) {
  const widgets = useWidgetNames(orgId);
  const list = useConversations(orgId, filters);
  const rows = list.data?.pages.flatMap((page) => page.results) ?? [];
  // The filters live in the URL, and React Router applies a URL change inside a transition: a
  // controlled checkbox would show its old state until that transition commits (and a quick
  // second click would read the old value). The box keeps its own state, set at once, and
  // follows the URL when the URL changes from elsewhere (back, a shared link).
  const [thumbsDown, setThumbsDown] = useState(Boolean(filters.thumbs_down));
  useEffect(() => setThumbsDown(Boolean(filters.thumbs_down)), [filters.thumbs_down]);
  return (
    <>
      <form className="runs-filters" aria-label="Filter conversations" onSubmit={(e) => e.preventDefault()}>
        <label className="runs-filter">
          <span className="runs-filter__label">Widget</span>
          <select
            className="select select--sm"
            value={filters.widget ?? ""}
            onChange={(e) => onFilters({ ...filters, widget: e.target.value || undefined })}
          >
            <option value="">Any</option>
            {(widgets.data ?? []).map((w) => (
              <option key={w.id} value={w.id}>
                {w.name}
              </option>
            ))}
          </select>
        </label>
        <label className="runs-filter">
          <span className="runs-filter__label">Flow</span>
          <select
            className="select select--sm"
            value={filters.flow ?? ""}
            onChange={(e) => onFilters({ ...filters, flow: e.target.value || undefined })}
          >
            <option value="">Any</option>
            {flows.map((f) => (
              <option key={f.id} value={f.id}>
                {f.name}
              </option>
            ))}
          </select>
        </label>
        <label className="runs-filter runs-filter--check">
          <input
            type="checkbox"
            checked={thumbsDown}
            onChange={(e) => {
              setThumbsDown(e.target.checked);
              onFilters({ ...filters, thumbs_down: e.target.checked || undefined });
            }}
          />
          Only thumbs-down
        </label>
        <span className="runs-filters__export">
          <a className="btn btn--ghost btn--sm" href={exportUrl(orgId, filters, "jsonl")} download>
            Export JSONL
          </a>
          <a className="btn btn--ghost btn--sm" href={exportUrl(orgId, filters, "csv")} download>
            Export CSV
          </a>
        </span>
      </form>
      {list.isPending ? (
        <LoadingState label="Loading conversations…" />
      ) : list.isError ? (
        <ErrorState error={list.error} onRetry={() => void list.refetch()} />
      ) : rows.length === 0 ? (
        <EmptyState icon={<RunsIcon size={24} />} title="No conversations here">
          A conversation starts when someone chats with a flow — a visitor in a widget, or you in the playground. Each
          one shows here as a transcript, with every thumbs-down and its comment next to the answer.
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table" aria-label="Conversations">
            <thead>
              <tr>
                <th scope="col">Last active</th>
                <th scope="col">Where</th>
                <th scope="col">Who</th>
                <th scope="col" className="runs-table__num">Messages</th>
                <th scope="col">Thumbs down</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((c) => (
                <tr
                  key={c.id}
                  className="runs-table__row"
                  data-conversation={c.id}
                  tabIndex={0}
                  onClick={() => onOpen(c.id)}
                  onKeyDown={(e) => {
                    if (e.key === "Enter") onOpen(c.id);
                  }}
                >
                  <td className="nowrap">{formatDateTime(c.updated_at)}</td>
                  <td>
                    {c.widget_name ? `${c.widget_name} (widget)` : (c.flow_name ?? "—")}
                    {c.title ? <div className="muted runs-table__meta runs-table__question">{c.title}</div> : null}
                  </td>
                  <td>{c.visitor_id ? `Visitor ${c.visitor_id.slice(0, 8)}` : (c.user ?? "—")}</td>
                  <td className="runs-table__num">{c.message_count}</td>
                  <td>{c.thumbs_down ? `👎 ${c.thumbs_down}` : <span className="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.hasNextPage ? (
        <div className="runs-more">
          <button type="button" className="btn btn--secondary btn--sm" onClick={() => void list.fetchNextPage()}>
            Older conversations
          </button>
        </div>
      ) : null}
    </>
  );
}

export function ConversationView({ orgId, id, onBack, onOpenRun }: {
  orgId: string;
  id: string;
  onBack: () => void;
  onOpenRun: (runId: string) => void;
}) {
  const conversation = useConversation(orgId, id);
  return (
    <section className="run-detail" aria-label="Conversation">
      <button type="button" className="btn btn--ghost btn--sm" onClick={onBack}>
        <ChevronLeftIcon size={15} />
        All conversations
      </button>
      {conversation.isPending ? (
        <LoadingState label="Loading the conversation…" />
      ) : conversation.isError ? (
        <ErrorState error={conversation.error} onRetry={() => void conversation.refetch()} />
      ) : (
        <>
          <header className="run-detail__header">
            <div>
              <h2 className="run-detail__title">
                {conversation.data.widget_name ?? conversation.data.flow_name ?? "Conversation"}
              </h2>
              <p className="muted run-detail__meta">
                {conversation.data.visitor_id
                  ? `Visitor ${conversation.data.visitor_id.slice(0, 8)}`
                  : (conversation.data.user ?? "")}{" "}
                · started {formatDateTime(conversation.data.created_at)}
              </p>
            </div>
          </header>
          <ol className="transcript" aria-label="Transcript">
            {conversation.data.messages.map((m, index) => (
              <li key={index} className={`transcript__message transcript__message--${m.role}`}>
                {m.role === "assistant" ? <Markdown text={m.text} /> : <p className="run-detail__input">{m.text}</p>}
                {m.citations?.length ? <Citations citations={m.citations as Citation[]} /> : null}
                {m.role === "assistant" ? (
                  <div className="transcript__meta muted">
                    {m.status && m.status !== "completed" ? <span>{m.status}</span> : null}
                    {m.error_code ? <span className="runs-error-text">{m.error_code}</span> : null}
                    {m.latency_ms !== undefined ? <span>{formatMs(m.latency_ms)}</span> : null}
                    {m.cost !== undefined ? <span>{formatCost(m.cost)}</span> : null}
                    <Rating rating={m.rating} comment={m.comment} />
                    {m.run ? (
                      <button type="button" className="linklike" onClick={() => onOpenRun(m.run!)}>
                        Trace
                      </button>
                    ) : null}
                  </div>
                ) : null}
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}
