/** Datasets, evaluations, the review queue and flow gates: typed calls over the generated schema. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, ensureCsrfCookie, unwrap, unwrapEmpty } from "../api/client";
import type { components } from "../api/schema";
import { CSRF_HEADER_NAME, csrfToken } from "../lib/csrf";
import { parseApiError } from "../lib/errors";

export type Dataset = components["schemas"]["DatasetOut"];
export type DatasetItem = components["schemas"]["DatasetItemOut"];
export type Evaluation = components["schemas"]["EvaluationOut"];
export type EvaluationDetail = components["schemas"]["EvaluationDetailOut"];
export type ItemRow = components["schemas"]["ItemRowOut"];
export type Sample = components["schemas"]["SampleOut"];
export type GateState = components["schemas"]["GateStateOut"];
export type EvaluatorConfig = Record<string, unknown>;

export const evalKeys = {
  all: (orgId: string) => ["orgs", orgId, "evaluation"] as const,
  datasets: (orgId: string) => ["orgs", orgId, "evaluation", "datasets"] as const,
  items: (orgId: string, id: string) => ["orgs", orgId, "evaluation", "items", id] as const,
  evaluations: (orgId: string) => ["orgs", orgId, "evaluation", "runs"] as const,
  evaluation: (orgId: string, id: string) => ["orgs", orgId, "evaluation", "run", id] as const,
  rows: (orgId: string, id: string) => ["orgs", orgId, "evaluation", "rows", id] as const,
  review: (orgId: string) => ["orgs", orgId, "evaluation", "review"] as const,
  gate: (orgId: string, flowId: string) => ["orgs", orgId, "evaluation", "gate", flowId] as const,
};

const org = (orgId: string) => ({ params: { path: { org_id: orgId } } });
const ACTIVE = new Set(["queued", "running"]);

export function useDatasets(orgId: string) {
  return useQuery({
    queryKey: evalKeys.datasets(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/datasets/", org(orgId))),
  });
}

export function useDatasetItems(orgId: string, datasetId: string | null) {
  return useQuery({
    queryKey: evalKeys.items(orgId, datasetId ?? ""),
    enabled: datasetId !== null,
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/datasets/{dataset_id}/items/", {
          params: { path: { org_id: orgId, dataset_id: datasetId ?? "" } },
        }),
      ),
  });
}

export function useDatasetMutations(orgId: string) {
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: evalKeys.all(orgId) });
  const path = (id: string) => ({ params: { path: { org_id: orgId, dataset_id: id } } });
  return {
    create: useMutation({
      mutationFn: (name: string) =>
        unwrap(api.POST("/api/v1/orgs/{org_id}/datasets/", { ...org(orgId), body: { name, items: [] } })),
      onSuccess: refresh,
    }),
    save: useMutation({
      mutationFn: (input: { id: string; items: Record<string, unknown>[] }) =>
        unwrap(
          api.PUT("/api/v1/orgs/{org_id}/datasets/{dataset_id}/items/", { ...path(input.id), body: { items: input.items } }),
        ),
      onSuccess: refresh,
    }),
    fromProduction: useMutation({
      mutationFn: (input: { id: string; thumbs_down?: boolean; runs?: string[] }) =>
        unwrap(
          api.POST("/api/v1/orgs/{org_id}/datasets/{dataset_id}/from-production/", {
            ...path(input.id),
            body: { thumbs_down: input.thumbs_down ?? false, runs: input.runs ?? [] },
          }),
        ),
      onSuccess: refresh,
    }),
    upload: useMutation({
      mutationFn: async (input: { id: string; file: File }) => {
        await ensureCsrfCookie();
        const body = new FormData();
        body.append("file", input.file);
        const response = await fetch(`/api/v1/orgs/${orgId}/datasets/${input.id}/upload/`, {
          method: "POST",
          body,
          credentials: "same-origin",
          headers: { [CSRF_HEADER_NAME]: csrfToken() ?? "" },
        });
        const data: unknown = await response.json().catch(() => ({}));
        if (!response.ok) throw parseApiError(response.status, data);
        return data;
      },
      onSuccess: refresh,
    }),
    remove: useMutation({
      mutationFn: (id: string) => unwrapEmpty(api.DELETE("/api/v1/orgs/{org_id}/datasets/{dataset_id}/", path(id))),
      onSuccess: refresh,
    }),
  };
}

export type EvaluationInput = {
  flow: string;
  version: string;
  dataset: string;
  evaluators: EvaluatorConfig[];
  samples: number;
  concurrency: number;
  baseline?: string | null;
  name?: string;
  /** A prompt version as the target: this prompt node's template replaced. */
  prompt?: { node: string; template: string } | null;
};

export function useEvaluations(orgId: string) {
  return useQuery({
    queryKey: evalKeys.evaluations(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/evaluations/", org(orgId))),
    refetchInterval: (query) => ((query.state.data ?? []).some((e) => ACTIVE.has(e.status ?? "")) ? 2000 : false),
  });
}

export function useEvaluation(orgId: string, id: string | null) {
  return useQuery({
    queryKey: evalKeys.evaluation(orgId, id ?? ""),
    enabled: id !== null,
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/evaluations/{evaluation_id}/", {
          params: { path: { org_id: orgId, evaluation_id: id ?? "" } },
        }),
      ),
  });
}

export function useItemRows(orgId: string, id: string | null, regressions: boolean, status: string | undefined) {
  return useQuery({
    // The status is in the key: the rows are read again as the evaluation moves on and ends.
    queryKey: [...evalKeys.rows(orgId, id ?? ""), regressions, status],
    enabled: id !== null && status !== undefined,
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/evaluations/{evaluation_id}/items/", {
          params: { path: { org_id: orgId, evaluation_id: id ?? "" }, query: { regressions } },
        }),
      ),
  });
}

export function useEvaluationMutations(orgId: string) {
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: evalKeys.all(orgId) });
  return {
    estimate: useMutation({
      mutationFn: (body: EvaluationInput) =>
        unwrap(api.POST("/api/v1/orgs/{org_id}/evaluations/estimate/", { ...org(orgId), body })),
    }),
    start: useMutation({
      mutationFn: (body: EvaluationInput) => unwrap(api.POST("/api/v1/orgs/{org_id}/evaluations/", { ...org(orgId), body })),
      onSuccess: refresh,
    }),
    cancel: useMutation({
      mutationFn: (id: string) =>
        unwrap(
          api.POST("/api/v1/orgs/{org_id}/evaluations/{evaluation_id}/cancel/", {
            params: { path: { org_id: orgId, evaluation_id: id } },
          }),
        ),
      onSuccess: refresh,
    }),
    grade: useMutation({
      mutationFn: (input: { evaluation: string; sample: number; evaluator: string; score: number; comment: string }) =>
        unwrap(
          api.POST("/api/v1/orgs/{org_id}/evaluations/{evaluation_id}/samples/{sample_id}/grade/", {
            params: { path: { org_id: orgId, evaluation_id: input.evaluation, sample_id: input.sample } },
            body: { evaluator: input.evaluator, score: input.score, comment: input.comment },
          }),
        ),
      onSuccess: refresh,
    }),
  };
}

export function useReviewQueue(orgId: string) {
  return useQuery({
    queryKey: evalKeys.review(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/review-queue/", org(orgId))),
  });
}

export function useGate(orgId: string, flowId: string | null) {
  return useQuery({
    queryKey: evalKeys.gate(orgId, flowId ?? ""),
    enabled: Boolean(flowId),
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/flows/{flow_id}/gate/", { params: { path: { org_id: orgId, flow_id: flowId ?? "" } } }),
      ),
    refetchInterval: (query) => (ACTIVE.has(query.state.data?.latest?.status ?? "") ? 1500 : false),
  });
}

export function useGateMutations(orgId: string, flowId: string) {
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: evalKeys.all(orgId) });
  const path = { params: { path: { org_id: orgId, flow_id: flowId } } };
  return {
    save: useMutation({
      mutationFn: (body: components["schemas"]["GateInRequest"]) =>
        unwrap(api.PUT("/api/v1/orgs/{org_id}/flows/{flow_id}/gate/", { ...path, body })),
      onSuccess: refresh,
    }),
    run: useMutation({
      mutationFn: () => unwrap(api.POST("/api/v1/orgs/{org_id}/flows/{flow_id}/gate/run/", path)),
      onSuccess: refresh,
    }),
  };
}
