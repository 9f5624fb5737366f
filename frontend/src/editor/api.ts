/** Server state of the editor and the flows page: TanStack Query hooks over the typed client. */
import { useMutation, useQuery, useQueryClient, keepPreviousData } from "@tanstack/react-query";
import { api, unwrap, unwrapEmpty } from "../api/client";
import { queryKeys } from "../api/queryKeys";
import type { FlowSpec } from "./types";

const flowPath = (orgId: string, flowId: string) => ({ params: { path: { org_id: orgId, flow_id: flowId } } });

export function useNodeCatalog() {
  return useQuery({
    queryKey: queryKeys.nodeTypes,
    queryFn: () => unwrap(api.GET("/api/v1/node-types/")),
    staleTime: 5 * 60_000,
  });
}

export function resolvePorts(nodes: { id: string; type: string; version: number; config: Record<string, unknown> }[]) {
  return unwrap(api.POST("/api/v1/node-types/ports/", { body: { nodes } }));
}

export function useFlows(orgId: string, search: string) {
  return useQuery({
    queryKey: queryKeys.flowList(orgId, search),
    queryFn: () =>
      unwrap(api.GET("/api/v1/orgs/{org_id}/flows/", { params: { path: { org_id: orgId }, query: { q: search || undefined, limit: 500 } } })),
    placeholderData: keepPreviousData,
  });
}

export function useFlow(orgId: string, flowId: string) {
  return useQuery({
    queryKey: queryKeys.flow(orgId, flowId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/flows/{flow_id}/", flowPath(orgId, flowId))),
    // The canvas owns the draft once loaded; a refetch must not replace what is being edited.
    staleTime: Infinity,
    refetchOnWindowFocus: false,
  });
}

export function fetchFlow(orgId: string, flowId: string) {
  return unwrap(api.GET("/api/v1/orgs/{org_id}/flows/{flow_id}/", flowPath(orgId, flowId)));
}

export function saveDraft(orgId: string, flowId: string, graph: FlowSpec, revision: number) {
  return unwrap(api.PUT("/api/v1/orgs/{org_id}/flows/{flow_id}/draft/", { ...flowPath(orgId, flowId), body: { graph, revision } }));
}

export function useCreateFlow(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; description?: string; graph?: FlowSpec }) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/flows/", { params: { path: { org_id: orgId } }, body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: queryKeys.flows(orgId) }),
  });
}

export function useImportFlow(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (payload: unknown) =>
      unwrap(
        api.POST("/api/v1/orgs/{org_id}/flows/import/", {
          params: { path: { org_id: orgId } },
          // The server checks the file's shape (invalid_import); it is whatever the user picked.
          body: payload as never,
        }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: queryKeys.flows(orgId) }),
  });
}

export function useDuplicateFlow(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (flowId: string) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/flows/{flow_id}/duplicate/", { ...flowPath(orgId, flowId), body: {} })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: queryKeys.flows(orgId) }),
  });
}

export function useDeleteFlow(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (flowId: string) => unwrapEmpty(api.DELETE("/api/v1/orgs/{org_id}/flows/{flow_id}/", flowPath(orgId, flowId))),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: queryKeys.flows(orgId) }),
  });
}

export function exportFlow(orgId: string, flowId: string) {
  return unwrap(api.GET("/api/v1/orgs/{org_id}/flows/{flow_id}/export/", flowPath(orgId, flowId)));
}

export function useRenameFlow(orgId: string, flowId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (name: string) =>
      unwrap(api.PATCH("/api/v1/orgs/{org_id}/flows/{flow_id}/", { ...flowPath(orgId, flowId), body: { name } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: queryKeys.flows(orgId) }),
  });
}

export function useVersions(orgId: string, flowId: string) {
  return useQuery({
    queryKey: queryKeys.flowVersions(orgId, flowId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/flows/{flow_id}/versions/", flowPath(orgId, flowId))),
  });
}

function useVersionMutation<T, R>(orgId: string, flowId: string, call: (input: T) => Promise<R>) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: call,
    onSuccess: () =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: queryKeys.flowVersions(orgId, flowId) }),
        queryClient.invalidateQueries({ queryKey: [...queryKeys.flows(orgId), "list"] }),
      ]),
  });
}

export function usePublish(orgId: string, flowId: string) {
  return useVersionMutation(orgId, flowId, (note: string) =>
    unwrap(api.POST("/api/v1/orgs/{org_id}/flows/{flow_id}/versions/", { ...flowPath(orgId, flowId), body: { note } })),
  );
}

export function useRollback(orgId: string, flowId: string) {
  return useVersionMutation(orgId, flowId, (version: number) =>
    unwrap(api.POST("/api/v1/orgs/{org_id}/flows/{flow_id}/rollback/", { ...flowPath(orgId, flowId), body: { version } })),
  );
}

export function restoreVersion(orgId: string, flowId: string, number: number) {
  return unwrap(
    api.POST("/api/v1/orgs/{org_id}/flows/{flow_id}/versions/{number}/restore/", {
      params: { path: { org_id: orgId, flow_id: flowId, number } },
    }),
  );
}

export function fetchDiff(orgId: string, flowId: string, from: string, to: string) {
  return unwrap(
    api.GET("/api/v1/orgs/{org_id}/flows/{flow_id}/diff/", {
      params: { path: { org_id: orgId, flow_id: flowId }, query: { from, to } },
    }),
  );
}

export function useModels(orgId: string) {
  return useQuery({
    queryKey: queryKeys.models(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/models/", { params: { path: { org_id: orgId } } })),
    staleTime: 60_000,
  });
}

export function fetchRun(orgId: string, runId: string) {
  return unwrap(api.GET("/api/v1/orgs/{org_id}/runs/{run_id}/", { params: { path: { org_id: orgId, run_id: runId } } }));
}

/** Every tool the organization's flows can call: built-in, MCP servers' and OpenAPI tool sets'. */
export function useOrgTools(orgId: string) {
  return useQuery({
    queryKey: ["orgs", orgId, "integration-tools"],
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/integration-tools/", { params: { path: { org_id: orgId } } })),
    staleTime: 30_000,
  });
}
