/**
 * "Create API key": a name and a role, then the full key, shown once. The secret lives only in
 * this component's state; closing the dialog drops it and it cannot be fetched again.
 */
import { useState, type FormEvent } from "react";
import { useCreateApiKey } from "../api/orgs";
import type { ApiKeyCreated, ApiKeyScope, Role } from "../api/types";
import { fieldErrors } from "../lib/forms";
import { ROLE_DESCRIPTIONS } from "../lib/roles";
import { Dialog } from "../ui/Dialog";
import { FormError } from "../ui/feedback";
import { Field } from "../ui/Field";
import { RoleSelect } from "../ui/RoleSelect";
import { SecretReveal } from "../ui/SecretReveal";

interface Props {
  orgId: string;
  roles: readonly Role[];
  onClose: () => void;
}

export function CreateApiKeyDialog({ orgId, roles, onClose }: Props) {
  const create = useCreateApiKey(orgId);
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>(roles.includes("editor") ? "editor" : (roles[roles.length - 1] ?? "viewer"));
  const [scope, setScope] = useState<ApiKeyScope>("full");
  const [expiresInDays, setExpiresInDays] = useState("");
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    // Only what differs from the defaults is sent: a full-scope key that never expires.
    const narrowed = scope === "full" ? {} : { scope };
    const expiry = expiresInDays
      ? { expires_at: new Date(Date.now() + Number(expiresInDays) * 86_400_000).toISOString() }
      : {};
    try {
      setCreated(await create.mutateAsync({ name: name.trim(), role, ...narrowed, ...expiry }));
    } catch {
      // create.error is shown in the form
    }
  }

  if (created) {
    return (
      <Dialog title="API key created" onClose={onClose} size="md">
        <SecretReveal
          label={`Key for “${created.name}”`}
          value={created.key}
          testId="new-api-key"
          warning="Copy this key now. It will not be shown again: Trellis stores only a hash of it."
        >
          <p className="muted" style={{ fontSize: 13 }}>
            Programs send it in the header <code>Authorization: Bearer &lt;key&gt;</code>.
          </p>
        </SecretReveal>
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
      title="Create API key"
      description="A key lets a program call the Trellis API on behalf of this organization, with the role you choose."
      onClose={onClose}
      dismissable={!create.isPending}
    >
      <form className="form" onSubmit={submit} noValidate>
        <FormError error={create.error} />
        <Field label="Name" errors={fieldErrors(create.error, "name")} hint="Where the key is used, e.g. “CI pipeline”.">
          <input
            className="input"
            value={name}
            onChange={(event) => setName(event.target.value)}
            maxLength={100}
            autoComplete="off"
            required
          />
        </Field>
        <Field label="Role" errors={fieldErrors(create.error, "role")} hint={ROLE_DESCRIPTIONS[role]}>
          <RoleSelect value={role} roles={roles} onChange={setRole} />
        </Field>
        <Field
          label="Scope"
          errors={fieldErrors(create.error, "scope")}
          hint="The key never acts above your own role, and stops working if you leave the organization."
        >
          <select className="input" value={scope} onChange={(event) => setScope(event.target.value as ApiKeyScope)}>
            <option value="full">Everything its role allows</option>
            <option value="read">Read-only (no changes, no runs)</option>
            <option value="runs">Runs only (run flows, read runs)</option>
          </select>
        </Field>
        <Field label="Expires" errors={fieldErrors(create.error, "expires_at")}>
          <select className="input" value={expiresInDays} onChange={(event) => setExpiresInDays(event.target.value)}>
            <option value="">Never</option>
            <option value="7">In 7 days</option>
            <option value="30">In 30 days</option>
            <option value="90">In 90 days</option>
            <option value="365">In a year</option>
          </select>
        </Field>
        <div className="form-actions">
          <button type="button" className="btn btn--ghost" onClick={onClose} disabled={create.isPending}>
            Cancel
          </button>
          <button type="submit" className="btn btn--primary" disabled={create.isPending}>
            {create.isPending ? "Creating…" : "Create"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
