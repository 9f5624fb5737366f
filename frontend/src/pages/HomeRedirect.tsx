/** "/" and "/o/:orgId" go to the first organization's flows (or onboarding, or /login). */
import { Navigate, useParams } from "react-router";
import { homePath, orgPath } from "../lib/routes";
import { useSession } from "../shell/session";

export function HomeRedirect() {
  const me = useSession();
  return <Navigate to={homePath(me.organizations)} replace />;
}

export function OrgIndexRedirect() {
  const { orgId = "" } = useParams();
  return <Navigate to={orgPath(orgId)} replace />;
}
