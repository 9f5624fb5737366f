/** Secrets, variables, MCP servers and OpenAPI tool sets: typed calls over the generated schema. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, unwrapEmpty } from "../api/client";
import type { components } from "../api/schema";

export type Secret = components["schemas"]["SecretOut"];
export type Variable = components["schemas"]["VariableOut"];
export type McpServer = components["schemas"]["McpServerOut"];
export type ToolSet = components["schemas"]["ToolSetOut"];
export type McpServerIn = components["schemas"]["McpServerInRequest"];
export type ToolSetIn = components["schemas"]["ToolSetInRequest"];
export type AuthConfig = { type: "none" | "bearer" | "basic" | "api_key"; token?: string; username?: string; password?: string; header?: string };

const root = (orgId: string) => ["orgs", orgId, "integrations"] as const;
const org = (orgId: string) => ({ params: { path: { org_id: orgId } } });

export const integrationKeys = {
  secrets: (orgId: string) => [...root(orgId), "secrets"] as const,
  variables: (orgId: string) => [...root(orgId), "variables"] as const,
  mcp: (orgId: string) => [...root(orgId), "mcp"] as const,
  toolSets: (orgId: string) => [...root(orgId), "tool-sets"] as const,
};

function useInvalidate(orgId: string) {
  const queryClient = useQueryClient();
  return () => queryClient.invalidateQueries({ queryKey: root(orgId) });
}

export function useSecrets(orgId: string) {
  return useQuery({
    queryKey: integrationKeys.secrets(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/secrets/", org(orgId))),
  });
}

export function useAddSecret(orgId: string) {
  const invalidate = useInvalidate(orgId);
  return useMutation({
    mutationFn: (body: { name: string; value: string; description?: string }) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/secrets/", { ...org(orgId), body })),
    onSuccess: invalidate,
  });
}

export function useReplaceSecret(orgId: string) {
  const invalidate = useInvalidate(orgId);
  return useMutation({
    mutationFn: ({ id, value }: { id: string; value: string }) =>
      unwrap(
        api.PATCH("/api/v1/orgs/{org_id}/secrets/{secret_id}/", {
          params: { path: { org_id: orgId, secret_id: id } },
          body: { value },
        }),
      ),
    onSuccess: invalidate,
  });
}

export function useDeleteSecret(orgId: string) {
  const invalidate = useInvalidate(orgId);
  return useMutation({
    mutationFn: (id: string) =>
      unwrapEmpty(api.DELETE("/api/v1/orgs/{org_id}/secrets/{secret_id}/", { params: { path: { org_id: orgId, secret_id: id } } })),
    onSuccess: invalidate,
  });
}

export function useVariables(orgId: string) {
  return useQuery({
    queryKey: integrationKeys.variables(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/variables/", org(orgId))),
  });
}

export function useSetVariable(orgId: string) {
  const invalidate = useInvalidate(orgId);
  return useMutation({
    mutationFn: (body: { name: string; value: string; description?: string }) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/variables/", { ...org(orgId), body })),
    onSuccess: invalidate,
  });
}

export function useDeleteVariable(orgId: string) {
  const invalidate = useInvalidate(orgId);
  return useMutation({
    mutationFn: (id: string) =>
      unwrapEmpty(
        api.DELETE("/api/v1/orgs/{org_id}/variables/{variable_id}/", { params: { path: { org_id: orgId, variable_id: id } } }),
      ),
    onSuccess: invalidate,
  });
}

export function useMcpServers(orgId: string) {
  return useQuery({
    queryKey: integrationKeys.mcp(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/mcp-servers/", org(orgId))),
  });
}

export function useConnectMcp(orgId: string) {
  const invalidate = useInvalidate(orgId);
  return useMutation({
    mutationFn: (body: McpServerIn) => unwrap(api.POST("/api/v1/orgs/{org_id}/mcp-servers/", { ...org(orgId), body })),
    onSuccess: invalidate,
  });
}

export function useUpdateMcp(orgId: string) {
  const invalidate = useInvalidate(orgId);
  return useMutation({
    mutationFn: ({ id, ...body }: { id: string; enabled?: boolean; disabled_tools?: string[] }) =>
      unwrap(
        api.PATCH("/api/v1/orgs/{org_id}/mcp-servers/{server_id}/", {
          params: { path: { org_id: orgId, server_id: id } },
          body,
        }),
      ),
    onSuccess: invalidate,
  });
}

export function useRefreshMcp(orgId: string) {
  const invalidate = useInvalidate(orgId);
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(
        api.POST("/api/v1/orgs/{org_id}/mcp-servers/{server_id}/refresh/", {
          params: { path: { org_id: orgId, server_id: id } },
        }),
      ),
    onSuccess: invalidate,
  });
}

export function useDeleteMcp(orgId: string) {
  const invalidate = useInvalidate(orgId);
  return useMutation({
    mutationFn: (id: string) =>
      unwrapEmpty(
        api.DELETE("/api/v1/orgs/{org_id}/mcp-servers/{server_id}/", { params: { path: { org_id: orgId, server_id: id } } }),
      ),
    onSuccess: invalidate,
  });
}

export function useToolSets(orgId: string) {
  return useQuery({
    queryKey: integrationKeys.toolSets(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/tool-sets/", org(orgId))),
  });
}

export function useImportToolSet(orgId: string) {
  const invalidate = useInvalidate(orgId);
  return useMutation({
    mutationFn: (body: ToolSetIn) => unwrap(api.POST("/api/v1/orgs/{org_id}/tool-sets/", { ...org(orgId), body })),
    onSuccess: invalidate,
  });
}

export function useUpdateToolSet(orgId: string) {
  const invalidate = useInvalidate(orgId);
  return useMutation({
    mutationFn: ({ id, ...body }: { id: string; enabled_operations: string[] }) =>
      unwrap(
        api.PATCH("/api/v1/orgs/{org_id}/tool-sets/{tool_set_id}/", {
          params: { path: { org_id: orgId, tool_set_id: id } },
          body,
        }),
      ),
    onSuccess: invalidate,
  });
}

export function useDeleteToolSet(orgId: string) {
  const invalidate = useInvalidate(orgId);
  return useMutation({
    mutationFn: (id: string) =>
      unwrapEmpty(
        api.DELETE("/api/v1/orgs/{org_id}/tool-sets/{tool_set_id}/", { params: { path: { org_id: orgId, tool_set_id: id } } }),
      ),
    onSuccess: invalidate,
  });
}

/** An auth form's state -> the API's auth object: secrets by reference, never by value. */
export function authOf(type: AuthConfig["type"], secret: string, extra: { username?: string; header?: string } = {}): AuthConfig {
  const reference = secret ? `{{secrets.${secret}}}` : "";
  switch (type) {
    case "bearer":
      return { type, token: reference };
    case "api_key":
      return { type, token: reference, header: extra.header || "X-API-Key" };
    case "basic":
      return { type, username: extra.username ?? "", password: reference };
    default:
      return { type: "none" };
  }
}
