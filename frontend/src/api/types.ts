/**
 * Friendly names for the generated backend types. Only aliases live here: every shape comes
 * from schema.d.ts (`npm run gen:api`), never written by hand.
 */
import type { components } from "./schema";

type Schemas = components["schemas"];

export type Role = Schemas["RoleEnum"];
export type Me = Schemas["Me"];
export type MeOrganization = Me["organizations"][number];
export type Organization = Schemas["Organization"];
export type Member = Schemas["Member"];
export type Invitation = Schemas["Invitation"];
export type InvitationCreated = Schemas["InvitationCreated"];
export type ApiKey = Schemas["ApiKey"];
export type ApiKeyCreated = Schemas["ApiKeyCreated"];
export type AuditEvent = Schemas["AuditEvent"];
export type AuditEventPage = Schemas["PaginatedAuditEventList"];

export type LoginInput = Schemas["LoginRequest"];
export type InvitationAcceptInput = Schemas["InvitationAcceptRequest"];
export type MemberCreateInput = Schemas["MemberCreateRequest"];
export type InvitationCreateInput = Schemas["InvitationCreateRequest"];
export type ApiKeyCreateInput = Schemas["ApiKeyCreateRequest"];
