/** Role ordering: owner > admin > editor > viewer. The server enforces; the UI only hides. */
import type { Role } from "../api/types";

/** Highest first. `satisfies` keeps the list in step with the schema's enum. */
export const ROLES = ["owner", "admin", "editor", "viewer"] as const satisfies readonly Role[];

// Fails to compile if the schema gains a role this list does not know.
type Missing = Exclude<Role, (typeof ROLES)[number]>;
const exhaustive: Missing extends never ? true : never = true;
void exhaustive;

const RANK: Record<Role, number> = { viewer: 1, editor: 2, admin: 3, owner: 4 };

export function roleAtLeast(role: Role | undefined, minimum: Role): boolean {
  return role !== undefined && RANK[role] >= RANK[minimum];
}

/** Admins and owners manage members, invitations and API keys. */
export function canManage(role: Role | undefined): boolean {
  return roleAtLeast(role, "admin");
}

/** Roles an actor may hand out: never above their own. */
export function assignableRoles(actor: Role | undefined): Role[] {
  if (!actor) return [];
  return ROLES.filter((role) => RANK[role] <= RANK[actor]);
}

export const ROLE_LABELS: Record<Role, string> = {
  owner: "Owner",
  admin: "Admin",
  editor: "Editor",
  viewer: "Viewer",
};

export const ROLE_DESCRIPTIONS: Record<Role, string> = {
  owner: "Everything, including the organization itself",
  admin: "Manage members, invitations and API keys",
  editor: "Build and publish flows, knowledge and widgets",
  viewer: "Read-only access",
};
