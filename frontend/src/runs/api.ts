/** The runs browser: typed calls over the generated schema, with their own query keys. */
import { keepPreviousData, useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { toQuery, type RunFilters } from "./filters";

export type RunRow = components["schemas"]["RunRowOut"];
export type RunTrace = components["schemas"]["RunTraceOut"];
export type WaterfallSpan = components["schemas"]["WaterfallSpanOut"];

export const runKeys = {
  all: (orgId: string) => ["orgs", orgId, "runs"] as const,
  list: (orgId: string, filters: RunFilters) => ["orgs", orgId, "runs", "list", filters] as const,
  detail: (orgId: string, runId: string) => ["orgs", orgId, "runs", "detail", runId] as const,
  flows: (orgId: string) => ["orgs", orgId, "flows", "runs-filter"] as const,
};

export const PAGE_SIZE = 50;

export function useRuns(orgId: string, filters: RunFilters) {
  return useInfiniteQuery({
    queryKey: runKeys.list(orgId, filters),
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/runs/", {
          params: {
            path: { org_id: orgId },
            query: { ...toQuery(filters), limit: PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) },
          },
        }),
      ),
    getNextPageParam: (page) => page.next ?? undefined,
    placeholderData: keepPreviousData,
  });
}

export function useRunTrace(orgId: string, runId: string | null) {
  return useQuery({
    queryKey: runKeys.detail(orgId, runId ?? ""),
    enabled: Boolean(runId),
    queryFn: () =>
      unwrap(api.GET("/api/v1/orgs/{org_id}/runs/{run_id}/", { params: { path: { org_id: orgId, run_id: runId! } } })),
    // A running run's trace grows: look again until it ends.
    refetchInterval: (query) => (query.state.data?.status === "running" ? 1000 : false),
  });
}

export function useFlowNames(orgId: string) {
  return useQuery({
    queryKey: runKeys.flows(orgId),
    queryFn: async () => {
      const page = await unwrap(
        api.GET("/api/v1/orgs/{org_id}/flows/", { params: { path: { org_id: orgId }, query: { limit: 500 } } }),
      );
      return page.results.map((flow) => ({ id: flow.id, name: flow.name }));
    },
    staleTime: 60_000,
  });
}

/** Runs the flow's draft again with the run's inputs; answers the new run. */
export function useReplay(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    onSuccess: () => client.invalidateQueries({ queryKey: runKeys.all(orgId) }),
    mutationFn: ({ flow, inputs }: { flow: string; inputs: Record<string, unknown> }) =>
      unwrap(
        api.POST("/api/v1/orgs/{org_id}/flows/{flow_id}/run/", {
          params: { path: { org_id: orgId, flow_id: flow } },
          body: { inputs, version: "draft" },
        }),
      ),
  });
}
