/**
 * Friendly names for the generated backend types. Only aliases live here: every shape comes
 * from schema.d.ts (`npm run gen:api`), never written by hand.
 */
import type { components } from "./schema";

type Schemas = components["schemas"];

export type Role = Schemas["RoleEnum"];
export type ApiErrorBody = Schemas["Error"];
export type Me = Schemas["MeOut"];
export type MeOrganization = Me["organizations"][number];
export type Organization = Schemas["OrganizationOut"];
export type Member = Schemas["MemberOut"];
export type Invitation = Schemas["InvitationOut"];
export type InvitationCreated = Schemas["InvitationCreatedOut"];
export type EmailStarted = Schemas["EmailStartedOut"];
export type ApiKey = Schemas["ApiKeyOut"];
export type ApiKeyCreated = Schemas["ApiKeyCreatedOut"];
export type ApiKeyScope = Schemas["ScopeEnum"];
export type AuditEvent = Schemas["AuditEventOut"];
export type AuditEventPage = Schemas["AuditEventPageOut"];

export type LoginInput = Schemas["LoginInRequest"];
export type InvitationAcceptInput = Schemas["InvitationAcceptInRequest"];
export type MemberCreateInput = Schemas["MemberAddInRequest"];
export type InvitationCreateInput = Schemas["InvitationInRequest"];
export type ApiKeyCreateInput = Schemas["ApiKeyInRequest"];

// The app socket's messages (apps/runs/protocol.py): every run event with its typed data.
export type RunSocketMessage = Schemas["RunSocketMessage"];
export type RunFailedData = Schemas["RunFailedData"];
