import { useState } from "react";
import { useInvitations, useRevokeInvitation } from "../api/orgs";
import type { Invitation } from "../api/types";
import { formatDate, formatRelative } from "../lib/format";
import { Badge, RoleBadge } from "../ui/Badge";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { ErrorState, LoadingState } from "../ui/feedback";

type InvitationStatus = "pending" | "expired" | "accepted";

export function invitationStatus(invitation: Invitation, now: Date = new Date()): InvitationStatus {
  if (invitation.accepted_at) return "accepted";
  return new Date(invitation.expires_at).getTime() <= now.getTime() ? "expired" : "pending";
}

export function InvitationsSection({ orgId }: { orgId: string }) {
  const invitations = useInvitations(orgId);
  const revoke = useRevokeInvitation(orgId);
  const [revoking, setRevoking] = useState<Invitation | null>(null);

  function close() {
    setRevoking(null);
    revoke.reset();
  }

  const open = invitations.data?.filter((invitation) => invitationStatus(invitation) !== "accepted") ?? [];

  return (
    <section className="section" aria-labelledby="invitations-title">
      <div className="section__header">
        <div>
          <h2 className="section__title" id="invitations-title">
            Pending invitations
          </h2>
          <p className="muted">Links that have not been used yet. Revoke one to make its link stop working.</p>
        </div>
      </div>
      {invitations.isPending ? (
        <LoadingState label="Loading invitations…" />
      ) : invitations.isError ? (
        <ErrorState error={invitations.error} onRetry={() => void invitations.refetch()} />
      ) : open.length === 0 ? (
        <p className="muted card card__body">No pending invitations.</p>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Invited</th>
                <th scope="col">Expires</th>
                <th scope="col">Status</th>
                <th scope="col" className="table__actions">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {open.map((invitation) => {
                const status = invitationStatus(invitation);
                return (
                  <tr key={invitation.id}>
                    <td>{invitation.email}</td>
                    <td>
                      <RoleBadge role={invitation.role} />
                    </td>
                    <td className="nowrap">{formatDate(invitation.created_at)}</td>
                    <td className="nowrap" title={invitation.expires_at}>
                      {formatRelative(invitation.expires_at)}
                    </td>
                    <td>
                      {status === "pending" ? <Badge tone="warning">Pending</Badge> : <Badge>Expired</Badge>}
                    </td>
                    <td className="table__actions">
                      <button
                        type="button"
                        className="btn btn--danger-ghost btn--sm"
                        aria-label={`Revoke invitation for ${invitation.email}`}
                        onClick={() => setRevoking(invitation)}
                      >
                        Revoke
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {revoking ? (
        <ConfirmDialog
          title="Revoke invitation"
          confirmLabel="Revoke"
          pending={revoke.isPending}
          error={revoke.error}
          onCancel={close}
          onConfirm={async () => {
            try {
              await revoke.mutateAsync(revoking.id);
              close();
            } catch {
              // revoke.error is shown in the dialog
            }
          }}
        >
          Revoke the invitation for <strong>{revoking.email}</strong>? Its link stops working.
        </ConfirmDialog>
      ) : null}
    </section>
  );
}
