import { useLogout } from "../api/auth";
import type { Me, MeOrganization } from "../api/types";
import { initials } from "../lib/format";
import { DocsIcon, MenuIcon, SignOutIcon } from "../ui/icons";
import { ConnectionStatus } from "./ConnectionStatus";
import { OrgSwitcher } from "./OrgSwitcher";
import { useSignOutStore } from "./stores";

export const API_DOCS_URL = "/api/docs/";

interface TopbarProps {
  me: Me;
  org: MeOrganization;
  onToggleNav: () => void;
  navOpen: boolean;
}

export function Topbar({ me, org, onToggleNav, navOpen }: TopbarProps) {
  const logout = useLogout();
  const setSigningOut = useSignOutStore((state) => state.setSigningOut);

  function signOut() {
    // Whatever the answer, the session is forgotten here and RequireAuth goes to /login.
    setSigningOut(true);
    logout.mutate();
  }

  return (
    <header className="topbar">
      <button
        type="button"
        className="icon-button topbar__menu-toggle"
        aria-label={navOpen ? "Close navigation" : "Open navigation"}
        aria-expanded={navOpen}
        onClick={onToggleNav}
      >
        <MenuIcon />
      </button>
      <OrgSwitcher current={org} organizations={me.organizations} />
      <div className="topbar__spacer" />
      <ConnectionStatus />
      <a className="btn btn--ghost btn--sm" href={API_DOCS_URL} target="_blank" rel="noreferrer" aria-label="API docs">
        <DocsIcon size={15} />
        <span className="topbar__docs-label">API docs</span>
      </a>
      <div className="topbar__user" title={me.email || me.username}>
        <span className="avatar" aria-hidden="true">
          {initials(me.username)}
        </span>
        <span className="topbar__username" data-testid="current-user">
          {me.username}
        </span>
      </div>
      <button
        type="button"
        className="btn btn--ghost btn--sm"
        onClick={signOut}
        disabled={logout.isPending}
        aria-label="Sign out"
        title="Sign out"
      >
        <SignOutIcon size={15} />
        <span className="topbar__signout-label">Sign out</span>
      </button>
    </header>
  );
}
