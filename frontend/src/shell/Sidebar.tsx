import type { ComponentType } from "react";
import { Link, NavLink } from "react-router";
import { orgPath, type Section } from "../lib/routes";
import {
  AlertIcon,
  CheckIcon,
  FlowsIcon,
  KeyIcon,
  KnowledgeIcon,
  Logo,
  ModelsIcon,
  RunsIcon,
  SettingsIcon,
  WidgetsIcon,
} from "../ui/icons";

interface NavItem {
  section: Section;
  label: string;
  Icon: ComponentType<{ size?: number }>;
}

const BUILD: NavItem[] = [
  { section: "flows", label: "Flows", Icon: FlowsIcon },
  { section: "knowledge", label: "Knowledge", Icon: KnowledgeIcon },
  { section: "models", label: "Models", Icon: ModelsIcon },
  { section: "widgets", label: "Widgets", Icon: WidgetsIcon },
  { section: "integrations", label: "Integrations", Icon: KeyIcon },
];

const OPERATE: NavItem[] = [
  { section: "runs", label: "Runs", Icon: RunsIcon },
  { section: "guardrails", label: "Guardrails", Icon: AlertIcon },
  { section: "evaluation", label: "Evaluation", Icon: CheckIcon },
  { section: "settings", label: "Settings", Icon: SettingsIcon },
];

export function Sidebar({ orgId, onNavigate }: { orgId: string; onNavigate?: () => void }) {
  const link = ({ section, label, Icon }: NavItem) => (
    <NavLink key={section} to={orgPath(orgId, section)} className="nav__link" onClick={onNavigate}>
      <Icon size={18} />
      <span>{label}</span>
    </NavLink>
  );
  return (
    <aside className="sidebar">
      <Link to={orgPath(orgId)} className="sidebar__brand" onClick={onNavigate}>
        <Logo size={26} />
        <span>Trellis</span>
      </Link>
      <nav aria-label="Main" className="nav">
        <div className="nav__group-label" aria-hidden="true">
          Build
        </div>
        {BUILD.map(link)}
        <div className="nav__group-label" aria-hidden="true">
          Operate
        </div>
        {OPERATE.map(link)}
      </nav>
    </aside>
  );
}
