import { QueryCache, QueryClient } from "@tanstack/react-query";
import { queryKeys } from "./api/queryKeys";
import { ApiError } from "./lib/errors";

/** Retries only what may succeed on retry: network trouble and 5xx, never a 4xx. */
export function shouldRetry(failureCount: number, error: unknown): boolean {
  if (error instanceof ApiError && error.status >= 400 && error.status < 500) return false;
  return failureCount < 2;
}

export function createQueryClient(): QueryClient {
  const queryClient: QueryClient = new QueryClient({
    queryCache: new QueryCache({
      onError: (error) => {
        // A 401 anywhere means the session ended: re-check it; the guard then goes to /login.
        if (error instanceof ApiError && error.status === 401) {
          void queryClient.invalidateQueries({ queryKey: queryKeys.me });
        }
      },
    }),
    defaultOptions: {
      queries: { retry: shouldRetry, staleTime: 15_000, refetchOnWindowFocus: true },
      mutations: { retry: false },
    },
  });
  return queryClient;
}
