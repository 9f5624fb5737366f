/** "Add member" and "Invite": both send an invitation by email (its link shown once). */
import { useState, type FormEvent } from "react";
import { useAddMember, useCreateInvitation } from "../api/orgs";
import type { InvitationCreated, Role } from "../api/types";
import { fieldErrors } from "../lib/forms";
import { absoluteUrl } from "../lib/routes";
import { Dialog } from "../ui/Dialog";
import { FormError } from "../ui/feedback";
import { Field } from "../ui/Field";
import { RoleSelect } from "../ui/RoleSelect";
import { SecretReveal } from "../ui/SecretReveal";

interface MemberFormProps {
  orgId: string;
  roles: readonly Role[];
  onClose: () => void;
}

function defaultRole(roles: readonly Role[]): Role {
  return roles.includes("editor") ? "editor" : (roles[roles.length - 1] ?? "viewer");
}

/** "Add member" by email: the server sends an invitation (account or not: nobody joins without
 *  accepting, and the answer never says whether the address has an account). */
export function AddMemberDialog({ orgId, roles, onClose }: MemberFormProps & {
  onInviteInstead?: (email: string, role: Role) => void;
}) {
  return <InviteDialog orgId={orgId} roles={roles} onClose={onClose} via="member" />;
}

export function InviteDialog({ orgId, roles, onClose, initialEmail = "", initialRole, via = "invitation" }: MemberFormProps & {
  initialEmail?: string;
  initialRole?: Role;
  via?: "member" | "invitation";
}) {
  const byInvitation = useCreateInvitation(orgId);
  const byMember = useAddMember(orgId);
  const invite = via === "member" ? byMember : byInvitation;
  const [email, setEmail] = useState(initialEmail);
  const [role, setRole] = useState<Role>(initialRole && roles.includes(initialRole) ? initialRole : defaultRole(roles));
  // The link exists only here, for as long as this dialog is open.
  const [created, setCreated] = useState<InvitationCreated | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      setCreated(await invite.mutateAsync({ email: email.trim(), role }));
    } catch {
      // invite.error is shown in the form
    }
  }

  if (created) {
    return (
      <Dialog title="Invitation created" onClose={onClose} size="md">
        <SecretReveal
          label="Invitation link"
          value={absoluteUrl(created.accept_url, window.location.origin)}
          testId="invite-link"
          warning={
            <>
              Send this link to <strong>{created.email}</strong>. It is shown only once: copy it now.
            </>
          }
        />
        <div className="dialog__footer">
          <button type="button" className="btn btn--primary" onClick={onClose} data-autofocus>
            Done
          </button>
        </div>
      </Dialog>
    );
  }

  return (
    <Dialog
      title={via === "member" ? "Add member" : "Invite member"}
      description="An invitation goes to this address; they join once they accept it, with the account that verified the address or a new one. The link works once and expires."
      onClose={onClose}
      dismissable={!invite.isPending}
    >
      <form className="form" onSubmit={submit} noValidate>
        <FormError error={invite.error} />
        <Field label="Email" errors={fieldErrors(invite.error, "email")}>
          <input
            className="input"
            type="email"
            autoComplete="off"
            value={email}
            onChange={(event) => setEmail(event.target.value)}
            placeholder="name@example.com"
            required
          />
        </Field>
        <Field label="Role" errors={fieldErrors(invite.error, "role")}>
          <RoleSelect value={role} roles={roles} onChange={setRole} />
        </Field>
        <div className="form-actions">
          <button type="button" className="btn btn--ghost" onClick={onClose} disabled={invite.isPending}>
            Cancel
          </button>
          <button type="submit" className="btn btn--primary" disabled={invite.isPending || !email.trim()}>
            {invite.isPending ? "Creating…" : "Create invitation"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
