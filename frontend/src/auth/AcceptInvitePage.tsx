/**
 * /invite?token=...: a signed-in user joins with one click; anyone else creates an account
 * (username + password) and is signed in by the same request.
 */
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useAcceptInvitation, useMe } from "../api/auth";
import type { Me } from "../api/types";
import { fieldErrors } from "../lib/forms";
import { homePath, loginPath, orgPath } from "../lib/routes";
import { Field } from "../ui/Field";
import { FormError, LoadingState } from "../ui/feedback";
import { AuthCard } from "./AuthCard";

/** The organization the invitation added: the one that was not in the list before. */
function joinedOrgPath(before: readonly { id: string }[], after: Me): string {
  const known = new Set(before.map((org) => org.id));
  const joined = after.organizations.find((org) => !known.has(org.id));
  return joined ? orgPath(joined.id) : homePath(after.organizations);
}

export function AcceptInvitePage() {
  const [params] = useSearchParams();
  const token = params.get("token")?.trim() ?? "";
  const me = useMe();
  const accept = useAcceptInvitation();
  const navigate = useNavigate();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");

  if (!token) {
    return (
      <AuthCard
        title="Invitation link incomplete"
        subtitle="This link has no invitation token. Copy the whole link from your invitation, or ask an admin of the organization for a new one."
        footer={<Link to="/">Go to Trellis</Link>}
      >
        <></>
      </AuthCard>
    );
  }

  if (me.isPending) {
    return (
      <div className="fullscreen-state">
        <LoadingState />
      </div>
    );
  }

  const signedIn = me.data ?? null;
  const invitePath = `/invite?token=${encodeURIComponent(token)}`;

  async function submit(event: FormEvent) {
    event.preventDefault();
    const before = signedIn?.organizations ?? [];
    try {
      const after = await accept.mutateAsync(
        signedIn ? { token } : { token, username: username.trim(), password },
      );
      navigate(joinedOrgPath(before, after), { replace: true });
    } catch {
      // accept.error is shown in the form
    }
  }

  if (signedIn) {
    return (
      <AuthCard
        title="Join organization"
        subtitle={
          <>
            You are signed in as <strong>{signedIn.username}</strong>. Accept the invitation to join the
            organization with this account.
          </>
        }
      >
        <form className="form" onSubmit={submit}>
          <FormError error={accept.error} />
          <button type="submit" className="btn btn--primary btn--block" disabled={accept.isPending}>
            {accept.isPending ? "Joining…" : "Accept invitation"}
          </button>
        </form>
      </AuthCard>
    );
  }

  return (
    <AuthCard
      title="Join organization"
      subtitle="You have been invited to a Trellis organization. Choose a username and password for your new account."
      footer={
        <>
          Already have an account? <Link to={loginPath(invitePath)}>Sign in</Link> to join with it.
        </>
      }
    >
      <form className="form" onSubmit={submit} noValidate>
        <FormError error={accept.error} />
        <Field label="Username" errors={fieldErrors(accept.error, "username")}>
          <input
            className="input"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            value={username}
            onChange={(event) => setUsername(event.target.value)}
            required
            autoFocus
          />
        </Field>
        <Field label="Password" errors={fieldErrors(accept.error, "password")}>
          <input
            className="input"
            type="password"
            autoComplete="new-password"
            value={password}
            onChange={(event) => setPassword(event.target.value)}
            required
          />
        </Field>
        {fieldErrors(accept.error, "token").length ? (
          <p className="field__errors">{fieldErrors(accept.error, "token").join(" ")}</p>
        ) : null}
        <button type="submit" className="btn btn--primary btn--block" disabled={accept.isPending}>
          {accept.isPending ? "Creating account…" : "Create account and join"}
        </button>
      </form>
    </AuthCard>
  );
}
