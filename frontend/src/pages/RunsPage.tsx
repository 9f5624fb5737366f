/** Runs: every execution of every flow, newest first, filtered from the URL; a run opens its
 *  trace in place (?run=<id>), so the filters are still there on the way back. */
import { useCallback, useMemo } from "react";
import { useSearchParams } from "react-router";
import { useCurrentOrg } from "../shell/session";
import { EmptyState, ErrorState, LoadingState } from "../ui/feedback";
import { RunsIcon } from "../ui/icons";
import { PageHeader } from "../ui/PageHeader";
import { useFlowNames, useRuns } from "../runs/api";
import { filtersFromParams, withFilter, withParams, withoutFilters, type FilterKey } from "../runs/filters";
import { roleAtLeast } from "../lib/roles";
import { Alerts } from "../runs/Alerts";
import { ConversationList, ConversationView } from "../runs/Conversations";
import { Dashboard } from "../runs/Dashboard";
import type { ConversationFilters } from "../runs/conversationsApi";
import { RunDetail } from "../runs/RunDetail";
import { RunFilterBar } from "../runs/RunFilters";
import { RunsTable } from "../runs/RunsTable";
import "../runs/runs.css";

export function RunsPage() {
  const org = useCurrentOrg();
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersFromParams(params), [params]);
  const openRun = params.get("run");
  const VIEWS = ["conversations", "dashboard", "alerts"];
  const view = VIEWS.includes(params.get("view") ?? "") ? params.get("view") : "runs";
  const openConversation = params.get("conversation");
  const conversationFilters: ConversationFilters = {
    widget: params.get("cwidget") ?? undefined,
    flow: params.get("cflow") ?? undefined,
    thumbs_down: params.get("down") === "1" || undefined,
  };
  const flows = useFlowNames(org.id);
  const setParam = (changes: Record<string, string | null>, replace = false) =>
    setParams((current) => withParams(current, changes), { replace });

  const setFilter = useCallback(
    (key: FilterKey, value: string) => setParams((current) => withFilter(current, key, value), { replace: true }),
    [setParams],
  );
  const open = useCallback(
    (id: string | null) =>
      setParams((current) => {
        const next = new URLSearchParams(current);
        if (id) next.set("run", id);
        else next.delete("run");
        return next;
      }),
    [setParams],
  );

  return (
    <div className="page page--wide">
      <PageHeader
        title="Runs"
        description="Every run of every flow — from the playground, the API, the OpenAI-compatible endpoint and widgets — with its trace, cost and feedback."
      />
      {openRun ? null : (
        <div className="runs-views" role="tablist" aria-label="View">
          {(
            [
              ["runs", "Runs"],
              ["conversations", "Conversations"],
              ["dashboard", "Dashboard"],
              ["alerts", "Alerts"],
            ] as const
          ).map(([id, label]) => (
            <button
              key={id}
              type="button"
              role="tab"
              className="runs-views__tab"
              aria-selected={view === id}
              onClick={() => setParam({ view: id === "runs" ? null : id, conversation: null })}
            >
              {label}
            </button>
          ))}
        </div>
      )}
      {openRun ? (
        <RunDetail runId={openRun} onBack={() => open(null)} onOpenRun={(id) => open(id)} />
      ) : view === "dashboard" ? (
        <Dashboard orgId={org.id} flows={flows.data ?? []} />
      ) : view === "alerts" ? (
        <Alerts orgId={org.id} flows={flows.data ?? []} canEdit={roleAtLeast(org.role, "editor")} />
      ) : view === "conversations" ? (
        openConversation ? (
          <ConversationView
            orgId={org.id}
            id={openConversation}
            onBack={() => setParam({ conversation: null })}
            onOpenRun={(id) => open(id)}
          />
        ) : (
          <ConversationList
            orgId={org.id}
            filters={conversationFilters}
            flows={flows.data ?? []}
            onFilters={(next) =>
              setParam(
                { cwidget: next.widget ?? null, cflow: next.flow ?? null, down: next.thumbs_down ? "1" : null },
                true,
              )
            }
            onOpen={(id) => setParam({ conversation: id })}
          />
        )
      ) : (
        <>
          <RunFilterBar
            filters={filters}
            flows={flows.data ?? []}
            onChange={setFilter}
            onClear={() => setParams((current) => withoutFilters(current))}
          />
          <RunList orgId={org.id} filters={filters} onOpen={open} />
        </>
      )}
    </div>
  );
}

function RunList({ orgId, filters, onOpen }: {
  orgId: string;
  filters: ReturnType<typeof filtersFromParams>;
  onOpen: (id: string) => void;
}) {
  const runs = useRuns(orgId, filters);
  const filtered = Object.keys(filters).length > 0;
  if (runs.isPending) return <LoadingState label="Loading runs…" />;
  if (runs.isError) return <ErrorState error={runs.error} onRetry={() => void runs.refetch()} />;
  const rows = runs.data.pages.flatMap((page) => page.results);
  if (!rows.length) {
    return filtered ? (
      <EmptyState icon={<RunsIcon size={24} />} title="No run matches these filters">
        Try a wider time range, another status, or fewer words in the search. Search matches whole words in the
        question and the answer.
      </EmptyState>
    ) : (
      <EmptyState icon={<RunsIcon size={24} />} title="No runs yet">
        Each time a flow runs — in the editor's playground, through the API or in a widget on your site — it shows up
        here with what was asked, what it answered, every node's timing, the tokens it used and what they cost.
      </EmptyState>
    );
  }
  return (
    <>
      <RunsTable runs={rows} onOpen={onOpen} />
      <div className="runs-more">
        {runs.hasNextPage ? (
          <button
            type="button"
            className="btn btn--secondary btn--sm"
            disabled={runs.isFetchingNextPage}
            onClick={() => void runs.fetchNextPage()}
          >
            {runs.isFetchingNextPage ? "Loading…" : "Older runs"}
          </button>
        ) : (
          <span className="muted">
            {rows.length === 1 ? "1 run" : `${rows.length.toLocaleString()} runs`}
            {runs.isFetching ? " · refreshing…" : ""}
          </span>
        )}
      </div>
    </>
  );
}
