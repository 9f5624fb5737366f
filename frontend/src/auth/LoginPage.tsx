import { useEffect, useState, type FormEvent } from "react";
import { Navigate, useNavigate, useSearchParams } from "react-router";
import { useLogin, useMe } from "../api/auth";
import { fieldErrors } from "../lib/forms";
import { homePath, safeNextPath } from "../lib/routes";
import { useSignOutStore } from "../shell/stores";
import { Field } from "../ui/Field";
import { FormError, LoadingState } from "../ui/feedback";
import { AuthCard } from "./AuthCard";

export function LoginPage() {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const me = useMe();
  const login = useLogin();
  const next = safeNextPath(params.get("next"));
  const setSigningOut = useSignOutStore((state) => state.setSigningOut);

  useEffect(() => setSigningOut(false), [setSigningOut]);

  if (me.isPending && !login.isPending) {
    return (
      <div className="fullscreen-state">
        <LoadingState />
      </div>
    );
  }
  // Already signed in (e.g. the back button): skip the form.
  if (me.data && !login.isPending && !login.isSuccess) {
    return <Navigate to={next ?? homePath(me.data.organizations)} replace />;
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      const signedIn = await login.mutateAsync({ username: username.trim(), password });
      navigate(next ?? homePath(signedIn.organizations), { replace: true });
    } catch {
      // login.error is shown in the alert below
    }
  }

  return (
    <AuthCard title="Sign in" subtitle="Welcome back. Sign in to your Trellis workspace.">
      <form className="form" onSubmit={submit} noValidate>
        <FormError error={login.error} />
        <Field label="Username" errors={fieldErrors(login.error, "username")}>
          <input
            className="input"
            name="username"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            value={username}
            onChange={(event) => setUsername(event.target.value)}
            required
            autoFocus
          />
        </Field>
        <Field label="Password" errors={fieldErrors(login.error, "password")}>
          <input
            className="input"
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(event) => setPassword(event.target.value)}
            required
          />
        </Field>
        <button type="submit" className="btn btn--primary btn--block" disabled={login.isPending}>
          {login.isPending ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </AuthCard>
  );
}
