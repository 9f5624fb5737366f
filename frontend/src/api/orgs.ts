/** Organization-scoped queries and mutations: the org, members, invitations, keys, audit. */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, unwrapEmpty } from "./client";
import { queryKeys } from "./queryKeys";
import type {
  ApiKeyCreateInput,
  InvitationCreateInput,
  MemberCreateInput,
  Organization,
  Role,
} from "./types";

const orgPath = (orgId: string) => ({ params: { path: { org_id: orgId } } });

export function useCreateOrganization() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (name: string) => unwrap(api.POST("/api/v1/orgs/", { body: { name } })),
    onSuccess: async () => {
      await Promise.all([
        queryClient.invalidateQueries({ queryKey: queryKeys.me }),
        queryClient.invalidateQueries({ queryKey: queryKeys.orgs, exact: true }),
      ]);
    },
  });
}

/** `known` (e.g. the entry from /auth/me/) is shown while the fresh copy loads. */
export function useOrganization(orgId: string, known?: Organization) {
  return useQuery({
    queryKey: queryKeys.org(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/", orgPath(orgId))),
    placeholderData: known,
  });
}

export function useRenameOrganization(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (name: string) =>
      unwrap(api.PATCH("/api/v1/orgs/{org_id}/", { ...orgPath(orgId), body: { name } })),
    onSuccess: async (org) => {
      queryClient.setQueryData(queryKeys.org(orgId), org);
      await queryClient.invalidateQueries({ queryKey: queryKeys.me });
    },
  });
}

export function useMembers(orgId: string) {
  return useQuery({
    queryKey: queryKeys.members(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/members/", orgPath(orgId))),
  });
}

export function useAddMember(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: MemberCreateInput) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/members/", { ...orgPath(orgId), body: input })),
    // Adding by email sends an invitation: it shows among the pending ones until accepted.
    onSuccess: () => queryClient.invalidateQueries({ queryKey: queryKeys.invitations(orgId) }),
  });
}

export function useChangeMemberRole(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ id, role }: { id: number; role: Role }) =>
      unwrap(
        api.PATCH("/api/v1/orgs/{org_id}/members/{member_id}/", {
          params: { path: { org_id: orgId, member_id: id } },
          body: { role },
        }),
      ),
    onSettled: async () => {
      await Promise.all([
        queryClient.invalidateQueries({ queryKey: queryKeys.members(orgId) }),
        // The caller may have changed their own role.
        queryClient.invalidateQueries({ queryKey: queryKeys.me }),
      ]);
    },
  });
}

export function useRemoveMember(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: number) =>
      unwrapEmpty(
        api.DELETE("/api/v1/orgs/{org_id}/members/{member_id}/", { params: { path: { org_id: orgId, member_id: id } } }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: queryKeys.members(orgId) }),
  });
}

export function useInvitations(orgId: string, enabled = true) {
  return useQuery({
    queryKey: queryKeys.invitations(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/invitations/", orgPath(orgId))),
    enabled,
  });
}

export function useCreateInvitation(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: InvitationCreateInput) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/invitations/", { ...orgPath(orgId), body: input })),
    // The answer carries the token: it stays in the component that shows it, never in the cache.
    onSuccess: () => queryClient.invalidateQueries({ queryKey: queryKeys.invitations(orgId) }),
  });
}

export function useRevokeInvitation(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: number) =>
      unwrapEmpty(
        api.DELETE("/api/v1/orgs/{org_id}/invitations/{invitation_id}/", {
          params: { path: { org_id: orgId, invitation_id: id } },
        }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: queryKeys.invitations(orgId) }),
  });
}

export function useApiKeys(orgId: string, enabled = true) {
  return useQuery({
    queryKey: queryKeys.apiKeys(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/api-keys/", orgPath(orgId))),
    enabled,
  });
}

export function useCreateApiKey(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: ApiKeyCreateInput) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/api-keys/", { ...orgPath(orgId), body: input })),
    // The secret stays in the component that shows it once, never in the query cache.
    onSuccess: () => queryClient.invalidateQueries({ queryKey: queryKeys.apiKeys(orgId) }),
  });
}

export function useRevokeApiKey(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: number) =>
      unwrapEmpty(
        api.DELETE("/api/v1/orgs/{org_id}/api-keys/{key_id}/", { params: { path: { org_id: orgId, key_id: id } } }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: queryKeys.apiKeys(orgId) }),
  });
}

export const AUDIT_PAGE_SIZE = 50;

export function useAuditEvents(orgId: string, offset: number, limit = AUDIT_PAGE_SIZE) {
  return useQuery({
    queryKey: queryKeys.audit(orgId, limit, offset),
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/audit-events/", {
          params: { path: { org_id: orgId }, query: { limit, offset } },
        }),
      ),
    placeholderData: keepPreviousData,
  });
}
