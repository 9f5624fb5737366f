/** Server state of the Models page: endpoints, deployments (polled for live status), logs, stats,
 * and the streamed test prompt. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, ensureCsrfCookie, unwrap, unwrapEmpty } from "../api/client";
import type { components } from "../api/schema";
import { csrfToken, CSRF_HEADER_NAME } from "../lib/csrf";
import { ApiError, networkError, parseApiError } from "../lib/errors";

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

export type TestPromptBody = components["schemas"]["ModelTestInRequest"];
export type TestDone = components["schemas"]["ModelTestDoneEvent"];
type TestToken = components["schemas"]["ModelTestTokenEvent"];
type TestFailure = components["schemas"]["ModelTestErrorEvent"];

export interface ServerSentEvent {
  event: string;
  data: string;
}

/** Splits a text/event-stream body into events as its bytes arrive (multi-line data joined). */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      buffer = buffer.replace(/\r\n?/g, "\n");
      let end: number;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data: string[] = [];
        for (const line of frame.split("\n")) {
          const colon = line.indexOf(":");
          const field = colon === -1 ? line : line.slice(0, colon);
          const text = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event = text;
          else if (field === "data") data.push(text);
        }
        if (data.length) yield { event, data: data.join("\n") };
      }
      if (done) return;
    }
  } finally {
    // Stopped early (done, an error event, Stop): let go of the connection.
    await reader.cancel().catch(() => undefined);
  }
}

/** An aborted fetch or read (the Stop button), whichever realm's DOMException it is. */
export function isAbort(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { name?: unknown }).name === "AbortError";
}

export const STREAM_CUT = "stream_cut";

/**
 * POST …/test/stream/: the test prompt through the gateway, answered as server-sent events.
 * Calls `onToken` per piece as it arrives and resolves with the `done` event (usage, timings).
 * Throws an ApiError for a refusal (the server's JSON error), an `error` event or a cut stream;
 * aborting `signal` (the Stop button) rejects with an AbortError and the server stops the model.
 */
export async function streamTestPrompt(
  orgId: string,
  endpointId: number,
  body: TestPromptBody,
  { signal, onToken }: { signal?: AbortSignal; onToken: (text: string) => void },
): Promise<TestDone> {
  await ensureCsrfCookie();
  const headers: Record<string, string> = { "Content-Type": "application/json", Accept: "text/event-stream" };
  const token = csrfToken();
  if (token) headers[CSRF_HEADER_NAME] = token;
  const url = `${window.location.origin}/api/v1/orgs/${encodeURIComponent(orgId)}/models/${endpointId}/test/stream/`;
  let response: Response;
  try {
    response = await globalThis.fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers,
      body: JSON.stringify(body),
      signal,
    });
  } catch (cause) {
    if (isAbort(cause)) throw cause;
    throw networkError(cause);
  }
  if (!response.ok || !response.body) {
    const payload: unknown = await response.json().catch(() => undefined);
    throw parseApiError(response.status, payload);
  }
  try {
    for await (const { event, data } of readEvents(response.body)) {
      if (event === "token") {
        onToken((JSON.parse(data) as TestToken).text);
      } else if (event === "done") {
        return JSON.parse(data) as TestDone;
      } else if (event === "error") {
        const failure = JSON.parse(data) as TestFailure;
        throw new ApiError(502, failure.code, failure.message);
      }
    }
  } catch (cause) {
    if (cause instanceof ApiError || isAbort(cause) || signal?.aborted) throw cause;
    throw new ApiError(0, STREAM_CUT, "The answer was cut off before it finished. Please try again.");
  }
  throw new ApiError(0, STREAM_CUT, "The answer was cut off before it finished. Please try again.");
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

// --- endpoints: add, change, remove, discover -------------------------------------------------

export type EndpointBody = components["schemas"]["ModelEndpointInRequest"];
export type EndpointChanges = components["schemas"]["PatchedModelEndpointInRequest"];
export type DiscoveredModel = components["schemas"]["DiscoveredModelOut"];

function useInvalidateEndpoints(orgId: string) {
  const queryClient = useQueryClient();
  return () => queryClient.invalidateQueries({ queryKey: keys.endpoints(orgId) });
}

export function useCreateEndpoint(orgId: string) {
  const invalidate = useInvalidateEndpoints(orgId);
  return useMutation({
    mutationFn: (body: EndpointBody) => unwrap(api.POST("/api/v1/orgs/{org_id}/models/", { ...orgPath(orgId), body })),
    onSuccess: invalidate,
  });
}

export function useUpdateEndpoint(orgId: string) {
  const invalidate = useInvalidateEndpoints(orgId);
  return useMutation({
    mutationFn: ({ id, changes }: { id: number; changes: EndpointChanges }) =>
      unwrap(
        api.PATCH("/api/v1/orgs/{org_id}/models/{endpoint_id}/", {
          params: { path: { org_id: orgId, endpoint_id: id } },
          body: changes,
        }),
      ),
    onSuccess: invalidate,
  });
}

export function useDeleteEndpoint(orgId: string) {
  const invalidate = useInvalidateEndpoints(orgId);
  return useMutation({
    mutationFn: (id: number) =>
      unwrapEmpty(
        api.DELETE("/api/v1/orgs/{org_id}/models/{endpoint_id}/", { params: { path: { org_id: orgId, endpoint_id: id } } }),
      ),
    onSuccess: invalidate,
  });
}

export function useDiscoverModels(orgId: string) {
  return useMutation({
    mutationFn: (body: { base_url: string; api_key?: string; endpoint?: number | null }) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/models/discover/", { ...orgPath(orgId), body })),
  });
}

// --- quota, the ledger ------------------------------------------------------------------------

export type Quota = components["schemas"]["QuotaOut"];
export type ModelCall = components["schemas"]["ModelCallOut"];

export interface LedgerFilters {
  alias?: string;
  served_by?: string;
  flow?: string;
  user?: number;
  status?: "ok" | "failed" | "refused";
  since?: string;
  until?: string;
}

export function useQuota(orgId: string) {
  return useQuery({
    queryKey: ["models", orgId, "quota"],
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/model-quota/", orgPath(orgId))),
  });
}

export function useSetQuota(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: {
      monthly_token_budget: number | null;
      requests_per_minute: number | null;
      monthly_cost_budget: string | null;
    }) =>
      unwrap(api.PUT("/api/v1/orgs/{org_id}/model-quota/", { ...orgPath(orgId), body })),
    onSuccess: (quota) => queryClient.setQueryData(["models", orgId, "quota"], quota),
  });
}

export type Budget = components["schemas"]["ModelBudgetOut"];
export type BudgetBody = components["schemas"]["ModelBudgetInRequest"];

export function useBudgets(orgId: string) {
  return useQuery({
    queryKey: ["models", orgId, "budgets"],
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/model-budgets/", orgPath(orgId))),
  });
}

export function useSetBudget(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: BudgetBody) => unwrap(api.PUT("/api/v1/orgs/{org_id}/model-budgets/", { ...orgPath(orgId), body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["models", orgId, "budgets"] }),
  });
}

export function useDeleteBudget(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: number) =>
      unwrap(api.DELETE("/api/v1/orgs/{org_id}/model-budgets/{budget_id}/", { params: { path: { org_id: orgId, budget_id: id } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["models", orgId, "budgets"] }),
  });
}

function cleanFilters(filters: LedgerFilters): LedgerFilters {
  return Object.fromEntries(Object.entries(filters).filter(([, value]) => value)) as LedgerFilters;
}

export function useModelCalls(orgId: string, filters: LedgerFilters) {
  const query = cleanFilters(filters);
  return useQuery({
    queryKey: ["models", orgId, "calls", query],
    queryFn: () =>
      unwrap(api.GET("/api/v1/orgs/{org_id}/model-calls/", { params: { path: { org_id: orgId }, query: { ...query, limit: 200 } } })),
  });
}

/** The ledger's CSV download, with the same filters (a plain link: the browser downloads it). */
export function ledgerCsvUrl(orgId: string, filters: LedgerFilters): string {
  const query = new URLSearchParams(Object.entries(cleanFilters(filters)).map(([k, v]) => [k, String(v)])).toString();
  return `/api/v1/orgs/${encodeURIComponent(orgId)}/model-calls/export/${query ? `?${query}` : ""}`;
}

// --- deployments and the model store ----------------------------------------------------------

export type StoredModel = components["schemas"]["StoredModelOut"];
export type DeploymentBody = components["schemas"]["DeploymentInRequest"];

export function useStoredModels(orgId: string) {
  return useQuery({
    queryKey: ["models", orgId, "stored"],
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/stored-models/", orgPath(orgId))),
    // While an import runs, its progress is polled every second.
    refetchInterval: (query) => (query.state.data?.some((m) => m.status === "importing") ? 1000 : false),
  });
}

export function useDeleteStoredModel(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: number) =>
      unwrap(api.DELETE("/api/v1/orgs/{org_id}/stored-models/{stored_id}/", { params: { path: { org_id: orgId, stored_id: id } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["models", orgId, "stored"] }),
  });
}

export function useImportModel(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; origin: string }) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/stored-models/", { ...orgPath(orgId), body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["models", orgId, "stored"] }),
  });
}

export function useCreateDeployment(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: DeploymentBody) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/deployments/", { ...orgPath(orgId), body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.deployments(orgId) }),
  });
}

export function useDeleteDeployment(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: number) =>
      unwrapEmpty(
        api.DELETE("/api/v1/orgs/{org_id}/deployments/{deployment_id}/", {
          params: { path: { org_id: orgId, deployment_id: id } },
        }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.deployments(orgId) }),
  });
}
