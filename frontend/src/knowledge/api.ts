/** Knowledge bases: queries, mutations and uploads with progress (types generated from OpenAPI). */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, ensureCsrfCookie, unwrap, unwrapEmpty } from "../api/client";
import type { components } from "../api/schema";
import { csrfToken, CSRF_HEADER_NAME } from "../lib/csrf";

export type KnowledgeBase = components["schemas"]["KnowledgeBaseOut"];
export type KbDocument = components["schemas"]["DocumentOut"];
export type SearchHit = components["schemas"]["SearchHitOut"];
export type SearchMode = "vector" | "keyword" | "hybrid";
export type KnowledgeBaseInput = components["schemas"]["KnowledgeBaseCreateInRequest"];
export type KnowledgeBaseChanges = components["schemas"]["PatchedKnowledgeBaseUpdateInRequest"];
export type ChunkStrategy = components["schemas"]["ChunkStrategyEnum"];
export type PreviewChunk = components["schemas"]["PreviewChunkOut"];
export interface ChunkSettings {
  chunk_strategy: ChunkStrategy;
  chunk_size: number;
  chunk_overlap: number;
}
/** What a preview chunks: a pasted sample (no base yet, or in a base), or a base's parsed document. */
export type PreviewSource = { text: string; kbId?: string } | { kbId: string; document: string };

export const kbKeys = {
  all: (orgId: string) => ["orgs", orgId, "knowledge"] as const,
  documents: (orgId: string, kbId: string) => ["orgs", orgId, "knowledge", kbId, "documents"] as const,
  chunks: (orgId: string, kbId: string, docId: string) => ["orgs", orgId, "knowledge", kbId, "chunks", docId] as const,
  sources: (orgId: string, kbId: string) => ["orgs", orgId, "knowledge", kbId, "sources"] as const,
};

const kbPath = (orgId: string, kbId: string) => ({ params: { path: { org_id: orgId, kb_id: kbId } } });
const ACTIVE = new Set(["queued", "parsing", "embedding"]);
export const isActive = (doc: KbDocument) => ACTIVE.has(doc.status);

export function useKnowledgeBases(orgId: string) {
  return useQuery({
    queryKey: kbKeys.all(orgId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/knowledge-bases/", { params: { path: { org_id: orgId } } })),
    refetchInterval: (query) => ((query.state.data ?? []).some((kb) => kb.active_count > 0) ? 2000 : false),
  });
}

export function useCreateKnowledgeBase(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: KnowledgeBaseInput) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/knowledge-bases/", { params: { path: { org_id: orgId } }, body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: kbKeys.all(orgId) }),
  });
}

export function useUpdateKnowledgeBase(orgId: string, kbId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: KnowledgeBaseChanges) =>
      unwrap(api.PATCH("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/", { ...kbPath(orgId, kbId), body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: kbKeys.all(orgId) }),
  });
}

export function useDeleteKnowledgeBase(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (kbId: string) =>
      unwrapEmpty(api.DELETE("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/", kbPath(orgId, kbId))),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: kbKeys.all(orgId) }),
  });
}

export function useReindex(orgId: string, kbId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.POST("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/reindex/", kbPath(orgId, kbId))),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: kbKeys.all(orgId) }),
  });
}

export function useDocuments(orgId: string, kbId: string) {
  return useQuery({
    queryKey: kbKeys.documents(orgId, kbId),
    queryFn: () =>
      unwrap(api.GET("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/documents/", kbPath(orgId, kbId))),
    // The socket pushes progress; polling is the fallback while anything is still running.
    refetchInterval: (query) => ((query.state.data ?? []).some(isActive) ? 1500 : false),
  });
}

export function useDocumentAction(orgId: string, kbId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async ({ docId, action }: { docId: string; action: "retry" | "delete" }): Promise<void> => {
      const path = { params: { path: { org_id: orgId, kb_id: kbId, document_id: docId } } };
      if (action === "retry") {
        await unwrap(api.POST("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/documents/{document_id}/retry/", path));
      } else {
        await unwrapEmpty(api.DELETE("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/documents/{document_id}/", path));
      }
    },
    onSuccess: () => queryClient.invalidateQueries({ queryKey: kbKeys.all(orgId) }),
  });
}

export function useChunks(orgId: string, kbId: string, docId: string) {
  return useQuery({
    queryKey: kbKeys.chunks(orgId, kbId, docId),
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/documents/{document_id}/chunks/", {
          params: { path: { org_id: orgId, kb_id: kbId, document_id: docId }, query: { limit: 200 } },
        }),
      ),
  });
}

export function useSearch(orgId: string, kbId: string) {
  return useMutation({
    mutationFn: (body: { query: string; mode: SearchMode; k: number }) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/search/", { ...kbPath(orgId, kbId), body })),
  });
}

export function useChunkPreview(orgId: string, kbId: string) {
  return useMutation({
    mutationFn: (body: components["schemas"]["PreviewInRequest"]) =>
      unwrap(
        api.POST("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/chunk-preview/", { ...kbPath(orgId, kbId), body }),
      ),
  });
}

/** The chunks these settings would make (nothing is saved); keeps the last answer while the next loads. */
export function useChunkPreviewQuery(orgId: string, source: PreviewSource, settings: ChunkSettings, enabled = true) {
  return useQuery({
    queryKey: [...kbKeys.all(orgId), "preview", source, settings] as const,
    queryFn: ({ signal }) => {
      if ("document" in source) {
        const body = { document: source.document, ...settings };
        return unwrap(
          api.POST("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/chunk-preview/", {
            ...kbPath(orgId, source.kbId),
            body,
            signal,
          }),
        );
      }
      const body = { text: source.text, ...settings };
      if (source.kbId) {
        return unwrap(
          api.POST("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/chunk-preview/", {
            ...kbPath(orgId, source.kbId),
            body,
            signal,
          }),
        );
      }
      return unwrap(
        api.POST("/api/v1/orgs/{org_id}/knowledge-bases/chunk-preview/", {
          params: { path: { org_id: orgId } },
          body,
          signal,
        }),
      );
    },
    enabled,
    placeholderData: keepPreviousData,
    staleTime: 60_000,
  });
}

/** One file per request so each gets its own progress bar (XHR reports upload progress). */
export async function uploadFile(
  orgId: string,
  kbId: string,
  file: File,
  onProgress: (fraction: number) => void,
): Promise<{ document: KbDocument; created: boolean }[]> {
  await ensureCsrfCookie();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/orgs/${orgId}/knowledge-bases/${kbId}/documents/`);
    xhr.withCredentials = true;
    const token = csrfToken();
    if (token) xhr.setRequestHeader(CSRF_HEADER_NAME, token);
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as { document: KbDocument; created: boolean }[]);
      else reject(new Error((body as { message?: string } | null)?.message ?? `Upload failed (${xhr.status})`));
    };
    xhr.onerror = () => reject(new Error("Network error during upload"));
    const form = new FormData();
    form.append("files", file);
    xhr.send(form);
  });
}

// --- sources (website crawl, server folder) ---------------------------------------------------

export type KbSource = components["schemas"]["SourceOut"];
export type SourceInput = components["schemas"]["SourceCreateInRequest"];
const sourcesKey = kbKeys.sources;
const SYNCING = new Set(["queued", "syncing"]);
export const isSyncing = (source: KbSource) => SYNCING.has(source.status);

export function useSources(orgId: string, kbId: string) {
  return useQuery({
    queryKey: sourcesKey(orgId, kbId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/sources/", kbPath(orgId, kbId))),
    // The socket pushes sync progress; polling is the fallback while a sync runs.
    refetchInterval: (query) => ((query.state.data ?? []).some(isSyncing) ? 3000 : false),
  });
}

export function useAddSource(orgId: string, kbId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: SourceInput) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/sources/", { ...kbPath(orgId, kbId), body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: sourcesKey(orgId, kbId) }),
  });
}

export function useSourceAction(orgId: string, kbId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async ({ sourceId, action }: { sourceId: string; action: "sync" | "delete" }): Promise<void> => {
      const path = { params: { path: { org_id: orgId, kb_id: kbId, source_id: sourceId } } };
      if (action === "sync") {
        await unwrap(api.POST("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/sources/{source_id}/sync/", path));
      } else {
        await unwrapEmpty(api.DELETE("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/sources/{source_id}/", path));
      }
    },
    onSuccess: () => queryClient.invalidateQueries({ queryKey: kbKeys.all(orgId) }),
  });
}

// --- test questions -----------------------------------------------------------------------------

export type TestQuestion = components["schemas"]["TestQuestionIO"];
export type EvaluateInput = components["schemas"]["EvaluateInRequest"];
export type Evaluation = components["schemas"]["EvaluateOut"];
const questionsKey = (orgId: string, kbId: string) => ["orgs", orgId, "knowledge", kbId, "questions"] as const;

export function useTestQuestions(orgId: string, kbId: string) {
  return useQuery({
    queryKey: questionsKey(orgId, kbId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/questions/", kbPath(orgId, kbId))),
  });
}

export function useSaveTestQuestions(orgId: string, kbId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (questions: TestQuestion[]) =>
      unwrap(
        api.PUT("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/questions/", {
          ...kbPath(orgId, kbId),
          body: { questions },
        }),
      ),
    onSuccess: (data) => queryClient.setQueryData(questionsKey(orgId, kbId), data),
  });
}

export function useEvaluate(orgId: string, kbId: string) {
  return useMutation({
    mutationFn: (body: EvaluateInput) =>
      unwrap(api.POST("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/evaluate/", { ...kbPath(orgId, kbId), body })),
  });
}

// --- embedding models and re-embedding (apps/knowledge/reembed.py) -----------------------------------

export type EmbeddingModel = components["schemas"]["EmbeddingModelOut"];
export type ReembedJob = components["schemas"]["ReembedJobOut"];
export const REEMBED_ACTIVE = new Set(["queued", "running"]);

export const embeddingKeys = {
  models: (orgId: string) => ["orgs", orgId, "knowledge", "embedding-models"] as const,
  reembed: (orgId: string, kbId: string) => ["orgs", orgId, "knowledge", kbId, "reembed"] as const,
};

/** The built-in model and the organization's embedding endpoints, each with its vector size. */
export function useEmbeddingModels(orgId: string, enabled = true) {
  return useQuery({
    queryKey: embeddingKeys.models(orgId),
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/orgs/{org_id}/knowledge-bases/embedding-models/", { params: { path: { org_id: orgId } } }),
      ),
    enabled,
    staleTime: 30_000,
  });
}

export function useReembedJob(orgId: string, kbId: string) {
  return useQuery({
    queryKey: embeddingKeys.reembed(orgId, kbId),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/reembed/", kbPath(orgId, kbId))),
    // the socket patches it live; a slow poll covers a socket that is down
    refetchInterval: (query) => (query.state.data?.job && REEMBED_ACTIVE.has(query.state.data.job.status) ? 5000 : false),
  });
}

export function useStartReembed(orgId: string, kbId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (embedding_model: string) =>
      unwrap(
        api.POST("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/reembed/", { ...kbPath(orgId, kbId), body: { embedding_model } }),
      ),
    onSuccess: (state) => queryClient.setQueryData(embeddingKeys.reembed(orgId, kbId), state),
  });
}

export function useReembedAction(orgId: string, kbId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (action: "cancel" | "resume") =>
      action === "cancel"
        ? unwrap(api.POST("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/reembed/cancel/", kbPath(orgId, kbId)))
        : unwrap(api.POST("/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/reembed/resume/", kbPath(orgId, kbId))),
    onSuccess: (state) => queryClient.setQueryData(embeddingKeys.reembed(orgId, kbId), state),
  });
}
