import { useState } from "react";
import { useChangeMemberRole, useMembers, useRemoveMember } from "../api/orgs";
import type { Member, Role } from "../api/types";
import { formatDate, initials } from "../lib/format";
import { assignableRoles, canManage } from "../lib/roles";
import { useCurrentOrg, useSession } from "../shell/session";
import { Badge, RoleBadge } from "../ui/Badge";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { EmptyState, ErrorState, FormError, LoadingState } from "../ui/feedback";
import { MailIcon, PlusIcon, UsersIcon } from "../ui/icons";
import { RoleSelect } from "../ui/RoleSelect";
import { InvitationsSection } from "./InvitationsSection";
import { AddMemberDialog, InviteDialog } from "./MemberDialogs";

type Open =
  | { kind: "none" }
  | { kind: "add" }
  | { kind: "invite"; email?: string; role?: Role }
  | { kind: "remove"; member: Member };

export function MembersSettings() {
  const org = useCurrentOrg();
  const me = useSession();
  const members = useMembers(org.id);
  const changeRole = useChangeMemberRole(org.id);
  const remove = useRemoveMember(org.id);
  const [open, setOpen] = useState<Open>({ kind: "none" });
  const [draftRoles, setDraftRoles] = useState<Record<number, Role>>({});
  const manage = canManage(org.role);
  const roles = assignableRoles(org.role);

  function close() {
    setOpen({ kind: "none" });
    remove.reset();
  }

  async function setRole(member: Member, role: Role) {
    setDraftRoles((drafts) => ({ ...drafts, [member.id]: role }));
    try {
      await changeRole.mutateAsync({ id: member.id, role });
    } catch {
      // changeRole.error is shown above the table
    } finally {
      setDraftRoles(({ [member.id]: _, ...rest }) => rest);
    }
  }

  return (
    <>
      <div className="section__header">
        <div>
          <h2 className="section__title">Members</h2>
          <p className="muted">
            {manage
              ? "People who can sign in to this organization, and what they may do."
              : "People in this organization. Only admins and owners can manage members."}
          </p>
        </div>
        {manage ? (
          <div className="page-header__actions">
            <button type="button" className="btn btn--secondary" onClick={() => setOpen({ kind: "add" })}>
              <PlusIcon size={15} />
              Add member
            </button>
            <button type="button" className="btn btn--primary" onClick={() => setOpen({ kind: "invite" })}>
              <MailIcon size={15} />
              Invite
            </button>
          </div>
        ) : null}
      </div>

      {changeRole.error ? (
        <div style={{ marginBottom: 12 }}>
          <FormError error={changeRole.error} />
        </div>
      ) : null}

      {members.isPending ? (
        <LoadingState label="Loading members…" />
      ) : members.isError ? (
        <ErrorState error={members.error} onRetry={() => void members.refetch()} />
      ) : members.data.length === 0 ? (
        <EmptyState icon={<UsersIcon size={24} />} title="No members">
          Invite your team to build together.
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Joined</th>
                {manage ? (
                  <th scope="col" className="table__actions">
                    <span className="sr-only">Actions</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {members.data.map((member) => {
                const isMe = member.user.id === me.id;
                return (
                  <tr key={member.id}>
                    <td>
                      <div className="cell-user">
                        <span className="avatar" aria-hidden="true">
                          {initials(member.user.username)}
                        </span>
                        <span className="cell-user__name">{member.user.username}</span>
                        {isMe ? <Badge>You</Badge> : null}
                      </div>
                    </td>
                    <td>{member.user.email || <span className="muted">—</span>}</td>
                    <td>
                      {manage && !isMe ? (
                        <RoleSelect
                          className="select select--sm"
                          aria-label={`Access level of ${member.user.username}`}
                          value={draftRoles[member.id] ?? member.role}
                          roles={roles}
                          onChange={(role) => void setRole(member, role)}
                          disabled={member.id in draftRoles}
                        />
                      ) : (
                        <RoleBadge role={member.role} />
                      )}
                    </td>
                    <td className="nowrap">{formatDate(member.created_at)}</td>
                    {manage ? (
                      <td className="table__actions">
                        {!isMe ? (
                          <button
                            type="button"
                            className="btn btn--danger-ghost btn--sm"
                            aria-label={`Remove ${member.user.username}`}
                            onClick={() => setOpen({ kind: "remove", member })}
                          >
                            Remove
                          </button>
                        ) : null}
                      </td>
                    ) : null}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}

      {manage ? <InvitationsSection orgId={org.id} /> : null}

      {open.kind === "add" ? (
        <AddMemberDialog
          orgId={org.id}
          roles={roles}
          onClose={close}
          onInviteInstead={(email, role) => setOpen({ kind: "invite", email, role })}
        />
      ) : null}
      {open.kind === "invite" ? (
        <InviteDialog orgId={org.id} roles={roles} onClose={close} initialEmail={open.email} initialRole={open.role} />
      ) : null}
      {open.kind === "remove" ? (
        <ConfirmDialog
          title="Remove member"
          confirmLabel="Remove"
          pending={remove.isPending}
          error={remove.error}
          onCancel={close}
          onConfirm={async () => {
            try {
              await remove.mutateAsync(open.member.id);
              close();
            } catch {
              // remove.error is shown in the dialog
            }
          }}
        >
          Remove <strong>{open.member.user.username}</strong> from {org.name}? They lose access right away. You can
          add them again later.
        </ConfirmDialog>
      ) : null}
    </>
  );
}
