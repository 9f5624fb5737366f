import type { ComponentType } from "react";
import { NavLink, Outlet } from "react-router";
import { settingsPath, type SettingsTab } from "../lib/routes";
import { useCurrentOrg } from "../shell/session";
import { BuildingIcon, HistoryIcon, KeyIcon, UsersIcon } from "../ui/icons";
import { PageHeader } from "../ui/PageHeader";

const TABS: { tab: SettingsTab; label: string; Icon: ComponentType<{ size?: number }> }[] = [
  { tab: "organization", label: "Organization", Icon: BuildingIcon },
  { tab: "members", label: "Members", Icon: UsersIcon },
  { tab: "api-keys", label: "API keys", Icon: KeyIcon },
  { tab: "audit", label: "Audit log", Icon: HistoryIcon },
];

export function SettingsLayout() {
  const org = useCurrentOrg();
  return (
    <div className="page">
      <PageHeader title="Settings" description={`Manage ${org.name}: its members, API keys and activity.`} />
      <nav aria-label="Settings" className="subnav">
        {TABS.map(({ tab, label, Icon }) => (
          <NavLink key={tab} to={settingsPath(org.id, tab)} className="subnav__link">
            <Icon size={16} />
            <span>{label}</span>
          </NavLink>
        ))}
      </nav>
      <Outlet />
    </div>
  );
}
