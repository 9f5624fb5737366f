/** URL helpers. App routes live under /o/:orgId/ so every deep link names its tenant. */

export const SECTIONS = ["flows", "knowledge", "models", "widgets", "runs", "guardrails", "evaluation", "integrations", "settings"] as const;
export type Section = (typeof SECTIONS)[number];

export const SETTINGS_TABS = ["organization", "members", "api-keys", "audit"] as const;
export type SettingsTab = (typeof SETTINGS_TABS)[number];

export const DEFAULT_SECTION: Section = "flows";
export const LOGIN_PATH = "/login";
export const WELCOME_PATH = "/welcome";

function isSection(value: string | undefined): value is Section {
  return (SECTIONS as readonly string[]).includes(value ?? "");
}

function isSettingsTab(value: string | undefined): value is SettingsTab {
  return (SETTINGS_TABS as readonly string[]).includes(value ?? "");
}

export function orgPath(orgId: string, section: Section = DEFAULT_SECTION, ...rest: string[]): string {
  const tail = [section, ...rest].map(encodeURIComponent).join("/");
  return `/o/${encodeURIComponent(orgId)}/${tail}`;
}

export function settingsPath(orgId: string, tab: SettingsTab = "organization"): string {
  return orgPath(orgId, "settings", tab);
}

/** Where a signed-in user lands: their first organization, or onboarding when they have none. */
export function homePath(orgs: readonly { id: string }[]): string {
  const first = orgs[0];
  return first ? orgPath(first.id) : WELCOME_PATH;
}

export interface OrgLocation {
  orgId: string;
  section: Section | undefined;
  rest: string[];
}

export function parseOrgPath(pathname: string): OrgLocation | undefined {
  const parts = pathname.split("/").filter(Boolean);
  if (parts[0] !== "o" || !parts[1]) return undefined;
  let orgId: string;
  try {
    orgId = decodeURIComponent(parts[1]);
  } catch {
    return undefined;
  }
  const section = isSection(parts[2]) ? parts[2] : undefined;
  return { orgId, section, rest: section ? parts.slice(3) : [] };
}

/**
 * The same page in another organization. Ids of things (a flow, a run) belong to the old
 * tenant, so only the section survives, plus the tab inside Settings.
 */
export function switchOrgPath(pathname: string, orgId: string): string {
  const here = parseOrgPath(pathname);
  const section = here?.section ?? DEFAULT_SECTION;
  if (section === "settings") {
    const tab = here?.rest[0];
    return settingsPath(orgId, isSettingsTab(tab) ? tab : "organization");
  }
  return orgPath(orgId, section);
}

/** Accepts only same-origin relative paths, so `?next=` cannot send anyone elsewhere. */
export function safeNextPath(next: string | null | undefined): string | undefined {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) {
    return undefined;
  }
  if (next === LOGIN_PATH || next.startsWith(`${LOGIN_PATH}?`)) return undefined;
  return next;
}

export function loginPath(next?: string): string {
  const safe = safeNextPath(next);
  return safe && safe !== "/" ? `${LOGIN_PATH}?next=${encodeURIComponent(safe)}` : LOGIN_PATH;
}

/** An absolute URL for a link the server may have returned relative (invitation links). */
export function absoluteUrl(url: string, origin: string): string {
  try {
    return new URL(url, origin).toString();
  } catch {
    return url;
  }
}
