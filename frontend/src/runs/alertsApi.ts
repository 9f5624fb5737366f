/** Alert rules: typed calls over the generated schema. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, unwrapEmpty } from "../api/client";
import type { components } from "../api/schema";

export type AlertRule = components["schemas"]["AlertRuleOut"];
export type AlertRuleCreate = components["schemas"]["AlertRuleInRequest"];
export type AlertEvent = components["schemas"]["AlertEventOut"];

export const METRICS: [AlertRule["metric"], string][] = [
  ["error_rate", "Error rate (%)"],
  ["p95_latency_ms", "p95 latency (ms)"],
  ["p95_ttft_ms", "p95 time to first token (ms)"],
  ["cost", "Cost ($)"],
  ["thumbs_down_rate", "Thumbs-down rate (%)"],
  ["guard_hits", "Guard hits (count)"],
];

const keys = {
  all: (orgId: string) => ["orgs", orgId, "alerts"] as const,
  events: (orgId: string, id: string) => ["orgs", orgId, "alerts", id, "events"] as const,
};

export function useAlertRules(orgId: string) {
  return useQuery({
    queryKey: keys.all(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/alerts/", { params: { path: { org_id: orgId } } })),
    refetchInterval: 30_000,
  });
}

export function useAlertEvents(orgId: string, id: string) {
  return useQuery({
    queryKey: keys.events(orgId, id),
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/alerts/{rule_id}/events/", { params: { path: { org_id: orgId, rule_id: id } } }),
      ),
  });
}

export function useCreateAlertRule(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: AlertRuleCreate) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/alerts/", { params: { path: { org_id: orgId } }, body })),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all(orgId) }),
  });
}

export function useDeleteAlertRule(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrapEmpty(
        api.DELETE("/api/v1/orgs/{org_id}/alerts/{rule_id}/", { params: { path: { org_id: orgId, rule_id: id } } }),
      ),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all(orgId) }),
  });
}
