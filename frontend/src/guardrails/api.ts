/** Guard policies and hits: typed calls over the generated schema, with their own query keys. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";

export type Policy = components["schemas"]["PolicyOut"];
export type Hit = components["schemas"]["HitOut"];
export type Verdict = components["schemas"]["VerdictOut"];
export type PolicyConfig = Record<string, unknown>;

export const guardKeys = {
  policies: (orgId: string) => ["orgs", orgId, "guard-policies"] as const,
  defaults: ["guard-policy-defaults"] as const,
  hits: (orgId: string) => ["orgs", orgId, "guard-hits"] as const,
};

const org = (orgId: string) => ({ params: { path: { org_id: orgId } } });

export function usePolicies(orgId: string) {
  return useQuery({
    queryKey: guardKeys.policies(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/guard-policies/", org(orgId))),
  });
}

export function usePolicyDefaults(orgId: string) {
  return useQuery({
    queryKey: guardKeys.defaults,
    queryFn: async () =>
      (await unwrap(api.GET("/api/v1/orgs/{org_id}/guard-policies/defaults/", org(orgId)))) as PolicyConfig,
    staleTime: Infinity,
  });
}

export function useHits(orgId: string) {
  return useQuery({
    queryKey: guardKeys.hits(orgId),
    queryFn: () =>
      unwrap(api.GET("/api/v1/orgs/{org_id}/guard-hits/", { params: { path: { org_id: orgId }, query: { limit: 50 } } })),
  });
}

export function useSavePolicy(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: { config: PolicyConfig; enabled: boolean }) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/guard-policies/", { ...org(orgId), body: input })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: guardKeys.policies(orgId) }),
  });
}

export function useTryPolicy(orgId: string) {
  return useMutation({
    mutationFn: (input: { config: PolicyConfig; text: string }) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/guard-policies/test/", { ...org(orgId), body: input })),
  });
}
