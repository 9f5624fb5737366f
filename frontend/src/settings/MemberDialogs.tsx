/** "Add member" (an existing user, by email) and "Invite" (a link, shown once). */
import { useState, type FormEvent } from "react";
import { useAddMember, useCreateInvitation } from "../api/orgs";
import type { InvitationCreated, Role } from "../api/types";
import { isApiError } from "../lib/errors";
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

export function AddMemberDialog({ orgId, roles, onClose, onInviteInstead }: MemberFormProps & {
  onInviteInstead: (email: string, role: Role) => void;
}) {
  const add = useAddMember(orgId);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>(defaultRole(roles));

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      await add.mutateAsync({ email: email.trim(), role });
      onClose();
    } catch {
      // add.error is shown in the form
    }
  }

  const noSuchUser = isApiError(add.error, "user_not_found");

  return (
    <Dialog
      title="Add member"
      description="Add someone who already has a Trellis account. For anyone else, send an invitation."
      onClose={onClose}
      dismissable={!add.isPending}
    >
      <form className="form" onSubmit={submit} noValidate>
        <FormError error={add.error} />
        {noSuchUser ? (
          <div className="callout">
            <span style={{ flex: 1 }}>No account uses this email yet. Send an invitation link instead.</span>
            <button type="button" className="btn btn--secondary btn--sm" onClick={() => onInviteInstead(email.trim(), role)}>
              Invite instead
            </button>
          </div>
        ) : null}
        <Field label="Email" errors={fieldErrors(add.error, "email")}>
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
        <Field label="Role" errors={fieldErrors(add.error, "role")}>
          <RoleSelect value={role} roles={roles} onChange={setRole} />
        </Field>
        <div className="form-actions">
          <button type="button" className="btn btn--ghost" onClick={onClose} disabled={add.isPending}>
            Cancel
          </button>
          <button type="submit" className="btn btn--primary" disabled={add.isPending || !email.trim()}>
            {add.isPending ? "Adding…" : "Add"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function InviteDialog({ orgId, roles, onClose, initialEmail = "", initialRole }: MemberFormProps & {
  initialEmail?: string;
  initialRole?: Role;
}) {
  const invite = useCreateInvitation(orgId);
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
      title="Invite member"
      description="Create an invitation link for someone to join this organization. It works once and expires."
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
