/** The shell of /o/:orgId/*: sidebar, top bar, and the page. */
import { useEffect } from "react";
import { Link, Outlet, useLocation, useParams } from "react-router";
import { homePath } from "../lib/routes";
import { EmptyState } from "../ui/feedback";
import { BuildingIcon } from "../ui/icons";
import { CurrentOrgContext, useSession } from "./session";
import { Sidebar } from "./Sidebar";
import { useNavStore } from "./stores";
import { Topbar } from "./Topbar";

export function AppLayout() {
  const me = useSession();
  const { orgId = "" } = useParams();
  const org = me.organizations.find((candidate) => candidate.id === orgId);
  const { open, toggle, setOpen } = useNavStore();
  const { pathname } = useLocation();

  useEffect(() => setOpen(false), [pathname, setOpen]);

  if (!org) {
    return (
      <div className="auth">
        <div style={{ maxWidth: 520, width: "100%" }}>
          <EmptyState
            icon={<BuildingIcon size={24} />}
            title="Organization not found"
            action={
              <Link className="btn btn--primary" to={homePath(me.organizations)}>
                Go to my organizations
              </Link>
            }
          >
            It does not exist, or you are not a member of it.
          </EmptyState>
        </div>
      </div>
    );
  }

  return (
    <CurrentOrgContext.Provider value={org}>
      <div className={`shell${open ? " shell--nav-open" : ""}`}>
        <Sidebar orgId={org.id} onNavigate={() => setOpen(false)} />
        <div className="sidebar-scrim" onClick={() => setOpen(false)} aria-hidden="true" />
        <Topbar me={me} org={org} navOpen={open} onToggleNav={toggle} />
        <main className="main" id="main">
          <Outlet />
        </main>
      </div>
    </CurrentOrgContext.Provider>
  );
}
