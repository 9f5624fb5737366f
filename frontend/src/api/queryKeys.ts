/** Query keys in one place so mutations invalidate exactly what they change. */
export const queryKeys = {
  me: ["me"] as const,
  orgs: ["orgs"] as const,
  org: (orgId: string) => ["orgs", orgId] as const,
  members: (orgId: string) => ["orgs", orgId, "members"] as const,
  invitations: (orgId: string) => ["orgs", orgId, "invitations"] as const,
  apiKeys: (orgId: string) => ["orgs", orgId, "api-keys"] as const,
  auditAll: (orgId: string) => ["orgs", orgId, "audit-events"] as const,
  audit: (orgId: string, limit: number, offset: number) =>
    ["orgs", orgId, "audit-events", { limit, offset }] as const,
  nodeTypes: ["node-types"] as const,
  models: (orgId: string) => ["orgs", orgId, "models"] as const,
  flows: (orgId: string) => ["orgs", orgId, "flows"] as const,
  flowList: (orgId: string, search: string) => ["orgs", orgId, "flows", "list", { search }] as const,
  flow: (orgId: string, flowId: string) => ["orgs", orgId, "flows", "detail", flowId] as const,
  flowVersions: (orgId: string, flowId: string) => ["orgs", orgId, "flows", "versions", flowId] as const,
};
