/** Gate for every signed-in route: resolves /auth/me/, else sends the visitor to /login. */
import { Navigate, Outlet, useLocation } from "react-router";
import { useMe } from "../api/auth";
import { LOGIN_PATH, loginPath } from "../lib/routes";
import { ErrorState, LoadingState } from "../ui/feedback";
import { SessionContext } from "./session";
import { useSignOutStore } from "./stores";
import { useRealtime } from "./useRealtime";

export function RequireAuth() {
  const me = useMe();
  const location = useLocation();
  const signingOut = useSignOutStore((state) => state.signingOut);
  useRealtime(Boolean(me.data));

  if (me.isPending) {
    return (
      <div className="fullscreen-state">
        <LoadingState />
      </div>
    );
  }
  if (me.isError) {
    return (
      <div className="fullscreen-state">
        <ErrorState error={me.error} onRetry={() => void me.refetch()} title="Could not load your session" />
      </div>
    );
  }
  if (!me.data) {
    // A lost session comes back to this page after signing in; a deliberate sign-out does not.
    const next = signingOut ? LOGIN_PATH : loginPath(location.pathname + location.search);
    return <Navigate to={next} replace />;
  }
  return (
    <SessionContext.Provider value={me.data}>
      <Outlet />
    </SessionContext.Provider>
  );
}
