import { useSearchParams } from "react-router";
import { AUDIT_PAGE_SIZE, useAuditEvents } from "../api/orgs";
import type { AuditEvent } from "../api/types";
import { formatDateTime } from "../lib/format";
import { canManage } from "../lib/roles";
import { useCurrentOrg } from "../shell/session";
import { EmptyState, ErrorState, LoadingState } from "../ui/feedback";
import { ChevronLeftIcon, ChevronRightIcon, HistoryIcon } from "../ui/icons";

/** Page numbers are 1-based in the URL (?page=2) so a page of the log can be linked. */
function pageFromParams(params: URLSearchParams): number {
  const page = Number.parseInt(params.get("page") ?? "1", 10);
  return Number.isFinite(page) && page > 0 ? page : 1;
}

function target(event: AuditEvent): string {
  if (!event.target_type) return "—";
  return event.target_id ? `${event.target_type} ${event.target_id}` : event.target_type;
}

export function AuditLogSettings() {
  const org = useCurrentOrg();
  if (!canManage(org.role)) {
    return (
      <EmptyState icon={<HistoryIcon size={24} />} title="The audit log is for admins">
        Admins and owners of {org.name} can see who did what in this organization.
      </EmptyState>
    );
  }
  return <AuditLog orgId={org.id} />;
}

function AuditLog({ orgId }: { orgId: string }) {
  const [params, setParams] = useSearchParams();
  const page = pageFromParams(params);
  const offset = (page - 1) * AUDIT_PAGE_SIZE;
  const events = useAuditEvents(orgId, offset);

  function goTo(next: number) {
    setParams(next > 1 ? { page: String(next) } : {});
  }

  const header = (
    <div className="section__header">
      <div>
        <h2 className="section__title">Audit log</h2>
        <p className="muted">Who did what in this organization, newest first.</p>
      </div>
    </div>
  );

  if (events.isPending) {
    return (
      <>
        {header}
        <LoadingState label="Loading audit events…" />
      </>
    );
  }
  if (events.isError) {
    return (
      <>
        {header}
        <ErrorState error={events.error} onRetry={() => void events.refetch()} />
      </>
    );
  }

  const { count, results } = events.data;
  const pages = Math.max(1, Math.ceil(count / AUDIT_PAGE_SIZE));
  const hasPrevious = page > 1;
  const hasNext = Boolean(events.data.next) || page < pages;

  return (
    <>
      {header}
      {results.length === 0 && page === 1 ? (
        <EmptyState icon={<HistoryIcon size={24} />} title="No events yet">
          Sign-ins, membership changes, API keys and, later, publishing and deployments are recorded here.
        </EmptyState>
      ) : (
        <>
          <div className="table-wrap" aria-busy={events.isPlaceholderData}>
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Action</th>
                  <th scope="col">Target</th>
                </tr>
              </thead>
              <tbody>
                {results.map((event) => (
                  <tr key={event.id}>
                    <td className="nowrap" title={event.created_at}>
                      {formatDateTime(event.created_at)}
                    </td>
                    <td>{event.actor ?? <span className="muted">system</span>}</td>
                    <td>
                      <code className="mono">{event.action}</code>
                    </td>
                    <td className="muted" title={event.ip ? `From ${event.ip}` : undefined}>
                      {target(event)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav className="pagination" aria-label="Audit log pages">
            <span>
              {count === 0
                ? "No events"
                : `${offset + 1}–${offset + results.length} of ${count} events`}
            </span>
            <div className="pagination__buttons">
              <button
                type="button"
                className="btn btn--secondary btn--sm"
                onClick={() => goTo(page - 1)}
                disabled={!hasPrevious || events.isFetching}
              >
                <ChevronLeftIcon size={15} />
                Previous
              </button>
              <button
                type="button"
                className="btn btn--secondary btn--sm"
                onClick={() => goTo(page + 1)}
                disabled={!hasNext || events.isFetching}
              >
                Next
                <ChevronRightIcon size={15} />
              </button>
            </div>
          </nav>
        </>
      )}
    </>
  );
}
