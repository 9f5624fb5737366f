/** Conversations: typed calls over the generated schema. */
import { keepPreviousData, useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";

export type Conversation = components["schemas"]["ConversationOut"];
export type ConversationDetail = components["schemas"]["ConversationDetailOut"];
export type TranscriptMessage = components["schemas"]["TranscriptMessageOut"];

export interface ConversationFilters {
  widget?: string;
  flow?: string;
  thumbs_down?: boolean;
}

export const conversationKeys = {
  list: (orgId: string, filters: ConversationFilters) => ["orgs", orgId, "conversations", "list", filters] as const,
  detail: (orgId: string, id: string) => ["orgs", orgId, "conversations", "detail", id] as const,
  widgets: (orgId: string) => ["orgs", orgId, "widgets"] as const,
};

export function useConversations(orgId: string, filters: ConversationFilters) {
  return useInfiniteQuery({
    queryKey: conversationKeys.list(orgId, filters),
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/conversations/", {
          params: {
            path: { org_id: orgId },
            query: {
              ...(filters.widget ? { widget: filters.widget } : {}),
              ...(filters.flow ? { flow: filters.flow } : {}),
              ...(filters.thumbs_down ? { thumbs_down: true } : {}),
              ...(pageParam ? { cursor: pageParam } : {}),
            },
          },
        }),
      ),
    getNextPageParam: (page) => page.next ?? undefined,
    placeholderData: keepPreviousData,
  });
}

export function useConversation(orgId: string, id: string) {
  return useQuery({
    queryKey: conversationKeys.detail(orgId, id),
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/conversations/{session_id}/", {
          params: { path: { org_id: orgId, session_id: id } },
        }),
      ),
  });
}

export function useWidgetNames(orgId: string) {
  return useQuery({
    queryKey: conversationKeys.widgets(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/widgets/", { params: { path: { org_id: orgId } } })),
    select: (widgets) => widgets.map((w) => ({ id: w.id, name: w.name })),
  });
}

/** The export's address (a plain download: the session cookie authenticates it). */
export function exportUrl(orgId: string, filters: ConversationFilters, output: "jsonl" | "csv"): string {
  const query = new URLSearchParams({ output });
  if (filters.widget) query.set("widget", filters.widget);
  if (filters.flow) query.set("flow", filters.flow);
  if (filters.thumbs_down) query.set("thumbs_down", "true");
  return `/api/v1/orgs/${orgId}/conversations/export/?${query.toString()}`;
}
