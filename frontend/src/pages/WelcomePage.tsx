/** A signed-in user without any organization creates their first one here. */
import { Navigate, useNavigate } from "react-router";
import { homePath, orgPath } from "../lib/routes";
import { AuthCard } from "../auth/AuthCard";
import { CreateOrganizationForm } from "../shell/CreateOrganizationForm";
import { useSession } from "../shell/session";

export function WelcomePage() {
  const me = useSession();
  const navigate = useNavigate();
  if (me.organizations.length > 0) return <Navigate to={homePath(me.organizations)} replace />;
  return (
    <AuthCard
      title={`Welcome, ${me.username}`}
      subtitle="Create an organization to start building. You can invite your team next."
    >
      <CreateOrganizationForm
        submitLabel="Create organization"
        onCreated={(org) => navigate(orgPath(org.id), { replace: true })}
      />
    </AuthCard>
  );
}
