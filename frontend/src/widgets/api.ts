/** Widget settings: typed calls over the generated schema, with their own query keys. */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, unwrapEmpty } from "../api/client";
import type { components } from "../api/schema";

export type Widget = components["schemas"]["WidgetOut"];
export type WidgetCreate = components["schemas"]["WidgetCreateInRequest"];
export type WidgetUpdate = components["schemas"]["PatchedWidgetUpdateInRequest"];
export type Analytics = components["schemas"]["AnalyticsOut"];

export const widgetKeys = {
  all: (orgId: string) => ["orgs", orgId, "widgets"] as const,
  analytics: (orgId: string, widgetId: string, days: number) =>
    ["orgs", orgId, "widgets", widgetId, "analytics", { days }] as const,
  flows: (orgId: string) => ["orgs", orgId, "flows", "widget-picker"] as const,
};

const path = (orgId: string, widgetId: string) => ({ params: { path: { org_id: orgId, widget_id: widgetId } } });

export function useWidgets(orgId: string) {
  return useQuery({
    queryKey: widgetKeys.all(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/widgets/", { params: { path: { org_id: orgId } } })),
  });
}

export function usePublishedFlows(orgId: string) {
  return useQuery({
    queryKey: widgetKeys.flows(orgId),
    queryFn: async () => {
      const page = await unwrap(
        api.GET("/api/v1/orgs/{org_id}/flows/", { params: { path: { org_id: orgId }, query: { limit: 500 } } }),
      );
      return page.results;
    },
  });
}

export function useWidgetAnalytics(orgId: string, widgetId: string, days: number) {
  return useQuery({
    queryKey: widgetKeys.analytics(orgId, widgetId, days),
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/widgets/{widget_id}/analytics/", {
          params: { path: { org_id: orgId, widget_id: widgetId }, query: { days } },
        }),
      ),
    placeholderData: keepPreviousData,
  });
}

export function useCreateWidget(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: WidgetCreate) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/widgets/", { params: { path: { org_id: orgId } }, body })),
    onSuccess: () => client.invalidateQueries({ queryKey: widgetKeys.all(orgId) }),
  });
}

export function useUpdateWidget(orgId: string, widgetId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: WidgetUpdate) =>
      unwrap(api.PATCH("/api/v1/orgs/{org_id}/widgets/{widget_id}/", { ...path(orgId, widgetId), body })),
    onSuccess: () => client.invalidateQueries({ queryKey: widgetKeys.all(orgId) }),
  });
}

export function useRotateKey(orgId: string, widgetId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.POST("/api/v1/orgs/{org_id}/widgets/{widget_id}/rotate-key/", path(orgId, widgetId))),
    onSuccess: () => client.invalidateQueries({ queryKey: widgetKeys.all(orgId) }),
  });
}

export function useDeleteWidget(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (widgetId: string) =>
      unwrapEmpty(api.DELETE("/api/v1/orgs/{org_id}/widgets/{widget_id}/", path(orgId, widgetId))),
    onSuccess: () => client.invalidateQueries({ queryKey: widgetKeys.all(orgId) }),
  });
}

/** The embed snippet for this Trellis server. */
export function embedSnippet(origin: string, key: string): string {
  return `<script src="${origin}/widget.js" data-key="${key}" async></script>`;
}
