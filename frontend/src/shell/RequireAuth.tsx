/** Gate for every signed-in route: resolves /auth/me/, else sends the visitor to /login. */
import { Navigate, Outlet, useLocation } from "react-router";
import { useMe } from "../api/auth";
import { loginPath } from "../lib/routes";
import { ErrorState, LoadingState } from "../ui/feedback";
import { SessionContext } from "./session";
import { useRealtime } from "./useRealtime";

export function RequireAuth() {
  const me = useMe();
  const location = useLocation();
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
    return <Navigate to={loginPath(location.pathname + location.search)} replace />;
  }
  return (
    <SessionContext.Provider value={me.data}>
      <Outlet />
    </SessionContext.Provider>
  );
}
