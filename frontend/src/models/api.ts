/** Server state of the Models page: endpoints, deployments (polled for live status), logs, stats. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";

const orgPath = (orgId: string) => ({ params: { path: { org_id: orgId } } });

export type Endpoint = components["schemas"]["ModelEndpointOut"];
export type Deployment = components["schemas"]["DeploymentOut"];
export type ModelStats = components["schemas"]["ModelStatsOut"];
export type DeploymentAction = "start" | "stop" | "restart";

const keys = {
  endpoints: (orgId: string) => ["models", orgId, "endpoints"] as const,
  deployments: (orgId: string) => ["models", orgId, "deployments"] as const,
  stats: (orgId: string) => ["models", orgId, "stats"] as const,
};

export const STATUS_POLL_MS = 2000;

export function useEndpoints(orgId: string) {
  return useQuery({
    queryKey: keys.endpoints(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/models/", orgPath(orgId))),
  });
}

export function useDeployments(orgId: string) {
  return useQuery({
    queryKey: keys.deployments(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/deployments/", orgPath(orgId))),
    refetchInterval: STATUS_POLL_MS,
  });
}

export function useModelStats(orgId: string) {
  return useQuery({
    queryKey: keys.stats(orgId),
    queryFn: () =>
      unwrap(api.GET("/api/v1/orgs/{org_id}/models/stats/", { params: { path: { org_id: orgId }, query: { hours: 24 } } })),
    refetchInterval: 15_000,
  });
}

export function useDeploymentAction(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ id, action }: { id: number; action: DeploymentAction }) =>
      unwrap(
        api.POST("/api/v1/orgs/{org_id}/deployments/{deployment_id}/actions/", {
          params: { path: { org_id: orgId, deployment_id: id } },
          body: { action },
        }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.deployments(orgId) }),
  });
}

export async function fetchLog(orgId: string, id: number, offset: number) {
  return unwrap(
    api.GET("/api/v1/orgs/{org_id}/deployments/{deployment_id}/log/", {
      params: { path: { org_id: orgId, deployment_id: id }, query: { offset } },
    }),
  );
}

export function useTestPrompt(orgId: string) {
  return useMutation({
    mutationFn: ({ id, prompt }: { id: number; prompt: string }) =>
      unwrap(
        api.POST("/api/v1/orgs/{org_id}/models/{endpoint_id}/test/", {
          params: { path: { org_id: orgId, endpoint_id: id } },
          body: { prompt, max_tokens: 64 },
        }),
      ),
  });
}

/** The status light's colour for a deployment's observed status. */
export function statusTone(status: string): "ok" | "busy" | "bad" | "off" {
  if (status === "ready") return "ok";
  if (status === "starting") return "busy";
  if (status === "failed") return "bad";
  return "off";
}

/** Per alias, the series of one stat over time, for the charts. */
export function series(stats: ModelStats[], field: "requests" | "tokens_per_s" | "ttft_p50_ms" | "cost") {
  const byAlias = new Map<string, number[]>();
  for (const row of stats) {
    const values = byAlias.get(row.alias) ?? [];
    values.push(Number(row[field] ?? 0));
    byAlias.set(row.alias, values);
  }
  return byAlias;
}
