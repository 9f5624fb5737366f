/** Session queries: who am I, sign in/out, accept an invitation. */
import { useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { isUnauthenticated } from "../lib/errors";
import { api, unwrap, unwrapEmpty } from "./client";
import { queryKeys } from "./queryKeys";
import type { EmailStarted, InvitationAcceptInput, LoginInput, Me } from "./types";

/** The signed-in user, or null when there is no session. */
export async function fetchMe(): Promise<Me | null> {
  try {
    return await unwrap(api.GET("/api/v1/auth/me/"));
  } catch (error) {
    if (isUnauthenticated(error)) return null;
    throw error;
  }
}

/** Drops every cached answer except `me`, which is then set (not removed) so that mounted
 *  observers hear about the new session. */
function forgetEverythingButMe(queryClient: QueryClient): void {
  queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== queryKeys.me[0] });
}

export function useMe() {
  return useQuery({ queryKey: queryKeys.me, queryFn: fetchMe, staleTime: 60_000 });
}

export function useLogin() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: LoginInput) => unwrap(api.POST("/api/v1/auth/login/", { body: input })),
    onSuccess: (me) => {
      // A new session: nothing cached for the previous one may leak into it.
      forgetEverythingButMe(queryClient);
      queryClient.setQueryData(queryKeys.me, me);
    },
  });
}

export function useLogout() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => unwrapEmpty(api.POST("/api/v1/auth/logout/")),
    onSettled: () => {
      forgetEverythingButMe(queryClient);
      queryClient.setQueryData(queryKeys.me, null);
    },
  });
}

export function useAcceptInvitation() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: InvitationAcceptInput) =>
      unwrap(api.POST("/api/v1/invitations/accept/", { body: input })),
    onSuccess: (me) => {
      queryClient.setQueryData(queryKeys.me, me);
      void queryClient.invalidateQueries({ queryKey: queryKeys.orgs });
    },
  });
}

/** Set my email address: a verification link goes to it (and, with no mail server in the
 *  embedded local mode, comes back as `verify_url` to show). */
export function useSetEmail() {
  return useMutation({
    mutationFn: (email: string): Promise<EmailStarted> =>
      unwrap(api.POST("/api/v1/auth/email/", { body: { email } })),
  });
}

/** Follow a verification link's token. */
export function useVerifyEmail() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (token: string): Promise<EmailStarted> =>
      unwrap(api.POST("/api/v1/auth/email/verify/", { body: { token } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: queryKeys.me }),
  });
}
