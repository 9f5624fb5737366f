/** One knowledge base: drop zone with per-file progress, documents, chunk browser, test search. */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { ReconnectingSocket, socketUrl } from "../lib/socket";
import { Badge } from "../ui/Badge";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { Dialog } from "../ui/Dialog";
import { ErrorState, FormError, LoadingState } from "../ui/feedback";
import { PageHeader } from "../ui/PageHeader";
import {
  embeddingKeys,
  isActive,
  kbKeys,
  uploadFile,
  useChunks,
  useDeleteKnowledgeBase,
  useDocumentAction,
  useDocuments,
  useReindex,
  useSearch,
  useUpdateKnowledgeBase,
  type ChunkSettings,
  type KbDocument,
  type KbSource,
  type KnowledgeBase,
  type ReembedJob,
  type SearchMode,
} from "./api";
import { ChunkingFields, ChunkPreview, chunkingProblem } from "./ChunkPreview";
import { ReembedPanel } from "./Embeddings";
import { highlight } from "./highlight";
import { QuestionSetPanel } from "./QuestionSet";
import { SourcesPanel } from "./Sources";

interface UploadState {
  name: string;
  progress: number;
  error?: string;
}

const formatSize = (bytes: number) =>
  bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(0)} KB` : `${(bytes / 1048576).toFixed(1)} MB`;

const TONE = { ready: "success", failed: "danger", queued: "neutral", parsing: "brand", embedding: "brand" } as const;

/** Live progress: subscribe to this base on the WebSocket; events patch the documents query. */
function useProgress(orgId: string, kbId: string) {
  const queryClient = useQueryClient();
  useEffect(() => {
    if (typeof WebSocket === "undefined") return;
    const socket = new ReconnectingSocket({
      url: socketUrl(window.location),
      onStatus: (status) => status === "connected" && socket.send({ type: "knowledge.subscribe", knowledge_base: kbId }),
      onMessage: (message) => {
        if (message.type === "knowledge.source") {
          // A source's sync: its counters live; the documents it added or removed once it ends.
          queryClient.setQueryData<KbSource[]>(kbKeys.sources(orgId, kbId), (sources) =>
            sources?.map((source) => {
              if (source.id !== message.source) return source;
              const { errors: _count, type: _type, event: _event, source: _id, knowledge_base: _kb, ...fields } = message;
              return { ...source, ...(fields as Partial<KbSource>) };
            }),
          );
          if (message.status === "ok" || message.status === "failed") {
            void queryClient.invalidateQueries({ queryKey: kbKeys.sources(orgId, kbId) });
            void queryClient.invalidateQueries({ queryKey: kbKeys.all(orgId) });
          }
          return;
        }
        if (message.type === "knowledge.reembed") {
          // A re-embed job: its progress live; the base's model once it switched.
          const { type: _type, event: _event, job: id, knowledge_base: _kb, ...fields } = message;
          const key = embeddingKeys.reembed(orgId, kbId);
          const known = queryClient.getQueryData<{ job: ReembedJob | null }>(key)?.job;
          if (known && known.id === id) {
            queryClient.setQueryData(key, { job: { ...known, ...(fields as Partial<ReembedJob>) } });
          } else {
            void queryClient.invalidateQueries({ queryKey: key });
          }
          if (message.status === "done") void queryClient.invalidateQueries({ queryKey: kbKeys.all(orgId) });
          return;
        }
        if (message.type !== "knowledge.progress") return;
        const known = queryClient.getQueryData<KbDocument[]>(kbKeys.documents(orgId, kbId));
        if (known && !known.some((doc) => doc.id === message.document)) {
          // a document a source sync just added: fetch the list again
          void queryClient.invalidateQueries({ queryKey: kbKeys.documents(orgId, kbId) });
          return;
        }
        queryClient.setQueryData<KbDocument[]>(kbKeys.documents(orgId, kbId), (docs) =>
          docs?.map((doc) => (doc.id === message.document ? { ...doc, ...(message as Partial<KbDocument>), id: doc.id } : doc)),
        );
        if (message.status === "ready" || message.status === "failed") {
          void queryClient.invalidateQueries({ queryKey: kbKeys.all(orgId) });
        }
      },
    });
    socket.start();
    return () => socket.stop();
  }, [orgId, kbId, queryClient]);
}

export function KnowledgeBaseView({ orgId, kb, onBack }: { orgId: string; kb: KnowledgeBase; onBack: () => void }) {
  const queryClient = useQueryClient();
  const documents = useDocuments(orgId, kb.id);
  const action = useDocumentAction(orgId, kb.id);
  const reindex = useReindex(orgId, kb.id);
  const remove = useDeleteKnowledgeBase(orgId);
  const [uploads, setUploads] = useState<UploadState[]>([]);
  const [dragging, setDragging] = useState(false);
  const [confirm, setConfirm] = useState<"reindex" | "delete" | "settings" | null>(null);
  const [deleting, setDeleting] = useState<KbDocument | null>(null);
  const [browsing, setBrowsing] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  useProgress(orgId, kb.id);

  const upload = (files: File[]) => {
    const start = uploads.length;
    setUploads((list) => [...list, ...files.map((f) => ({ name: f.name, progress: 0 }))]);
    files.forEach((file, i) => {
      const update = (patch: Partial<UploadState>) =>
        setUploads((list) => list.map((u, j) => (j === start + i ? { ...u, ...patch } : u)));
      uploadFile(orgId, kb.id, file, (progress) => update({ progress }))
        .then(() => update({ progress: 1 }))
        .catch((error: Error) => update({ error: error.message }))
        .finally(() => void queryClient.invalidateQueries({ queryKey: kbKeys.all(orgId) }));
    });
  };

  return (
    <div className="page">
      <PageHeader
        title={kb.name}
        description={
          <>
            <button type="button" className="kb-link" onClick={onBack}>
              ← All knowledge bases
            </button>{" "}
            · {kb.chunk_strategy} chunks of {kb.chunk_size} tokens · embeddings: {kb.embedding_model} ({kb.embedding_dims} dimensions)
          </>
        }
        actions={
          <>
            <button type="button" className="btn" onClick={() => setConfirm("settings")}>
              Settings
            </button>
            <button type="button" className="btn" onClick={() => setConfirm("reindex")}>
              Re-index
            </button>
            <button type="button" className="btn btn--danger-ghost" onClick={() => setConfirm("delete")}>
              Delete
            </button>
          </>
        }
      />
      <div
        className={`dropzone${dragging ? " dropzone--active" : ""}`}
        data-testid="dropzone"
        onDragOver={(e) => (e.preventDefault(), setDragging(true))}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          upload([...e.dataTransfer.files]);
        }}
        onClick={() => input.current?.click()}
        role="button"
        tabIndex={0}
      >
        <strong>Drop files here or click to choose</strong>
        <span>PDF, Word, Markdown, HTML, text or CSV — many at once.</span>
        <input
          ref={input}
          type="file"
          multiple
          hidden
          aria-label="Upload files"
          onChange={(e) => (upload([...(e.target.files ?? [])]), (e.target.value = ""))}
        />
      </div>
      {uploads.length > 0 && (
        <ul className="uploads" aria-label="Uploads">
          {uploads.map((u, i) => (
            <li key={i}>
              {u.name} <progress max={1} value={u.progress} /> {u.error ? <span className="kb-error">{u.error}</span> : null}
            </li>
          ))}
        </ul>
      )}
      <ReembedPanel orgId={orgId} kb={kb} />
      <SourcesPanel orgId={orgId} kbId={kb.id} />
      {documents.isPending && <LoadingState />}
      {documents.isError && <ErrorState error={documents.error} />}
      {documents.data?.length === 0 && (
        <div className="card kb-section kb-empty">No documents yet: drop files above and they are parsed, chunked and embedded.</div>
      )}
      {!!documents.data?.length && (
        <div className="table-wrap kb-section">
        <table className="table" aria-label="Documents">
          <thead>
            <tr>
              <th>Document</th>
              <th>Status</th>
              <th>Progress</th>
              <th>Chunks</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {documents.data.map((doc) => (
              <tr key={doc.id} data-document={doc.name}>
                <td>
                  {doc.name}
                  <div className="muted">
                    {doc.file_type} · {formatSize(doc.size_bytes)}{doc.page_count ? ` · ${doc.page_count} pages` : ""}
                    {doc.version > 1 ? ` · v${doc.version}` : ""}
                  </div>
                </td>
                <td>
                  <Badge tone={TONE[doc.status]}>{doc.status}</Badge>
                  {doc.error_message && <div className="kb-error">{doc.error_message}</div>}
                </td>
                <td>
                  <progress className="kb-progress" max={1} value={doc.progress} aria-label={`${doc.name} progress`} />
                </td>
                <td>{doc.chunk_count}</td>
                <td>
                  {doc.status === "ready" && (
                    <button type="button" className="btn btn--sm" onClick={() => setBrowsing(browsing === doc.id ? null : doc.id)}>
                      Chunks
                    </button>
                  )}
                  {doc.status === "failed" && (
                    <button type="button" className="btn btn--sm" onClick={() => action.mutate({ docId: doc.id, action: "retry" })}>
                      Retry
                    </button>
                  )}
                  {!isActive(doc) && (
                    <button type="button" className="btn btn--danger-ghost btn--sm" onClick={() => setDeleting(doc)}>
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
      {browsing && <ChunkBrowser orgId={orgId} kbId={kb.id} docId={browsing} />}
      <SearchPanel orgId={orgId} kbId={kb.id} />
      <QuestionSetPanel orgId={orgId} kb={kb} documents={documents.data ?? []} />
      {confirm === "reindex" && (
        <ConfirmDialog
          title="Re-index every document?"
          confirmLabel="Re-index"
          pending={reindex.isPending}
          error={reindex.error}
          onCancel={() => setConfirm(null)}
          onConfirm={() => reindex.mutate(undefined, { onSuccess: () => setConfirm(null) })}
        >
          Every document is chunked and embedded again; searches keep answering from the current chunks until each is done.
        </ConfirmDialog>
      )}
      {confirm === "settings" && (
        <SettingsDialog orgId={orgId} kb={kb} documents={documents.data ?? []} onClose={() => setConfirm(null)} />
      )}
      {confirm === "delete" && (
        <ConfirmDialog
          danger
          title={`Delete ${kb.name}?`}
          confirmLabel="Delete"
          pending={remove.isPending}
          error={remove.error}
          onCancel={() => setConfirm(null)}
          onConfirm={() => remove.mutate(kb.id, { onSuccess: onBack })}
        >
          Its documents and chunks are deleted; flows that retrieve from it will fail.
        </ConfirmDialog>
      )}
      {deleting && (
        <ConfirmDialog
          danger
          title={`Delete ${deleting.name}?`}
          confirmLabel="Delete"
          pending={action.isPending}
          error={action.error}
          onCancel={() => setDeleting(null)}
          onConfirm={() => action.mutate({ docId: deleting.id, action: "delete" }, { onSuccess: () => setDeleting(null) })}
        >
          The document and its chunks are removed from search.
        </ConfirmDialog>
      )}
    </div>
  );
}

/** The oldest document that has parsed text to preview on. */
export function firstUploaded(documents: KbDocument[]): KbDocument | undefined {
  const parsed = documents.filter((d) => d.status === "ready" || d.status === "embedding");
  return [...parsed].sort((a, b) => a.created_at.localeCompare(b.created_at))[0];
}

/** Name, description and chunking; new chunking re-indexes every document (with a preview first). */
function SettingsDialog({ orgId, kb, documents, onClose }: {
  orgId: string;
  kb: KnowledgeBase;
  documents: KbDocument[];
  onClose: () => void;
}) {
  const update = useUpdateKnowledgeBase(orgId, kb.id);
  const [name, setName] = useState(kb.name);
  const [description, setDescription] = useState(kb.description);
  const [chunking, setChunking] = useState<ChunkSettings>({
    chunk_strategy: kb.chunk_strategy,
    chunk_size: kb.chunk_size,
    chunk_overlap: kb.chunk_overlap,
  });
  const rechunk =
    chunking.chunk_strategy !== kb.chunk_strategy ||
    chunking.chunk_size !== kb.chunk_size ||
    chunking.chunk_overlap !== kb.chunk_overlap;
  const first = firstUploaded(documents);
  return (
    <Dialog title="Knowledge base settings" onClose={onClose} dismissable={!update.isPending} size="md">
      <form
        className="form"
        onSubmit={(event) => {
          event.preventDefault();
          update.mutate({ name, description, ...(rechunk ? chunking : {}) }, { onSuccess: onClose });
        }}
      >
        <label className="field">
          <span>Title</span>
          <input className="input" required maxLength={120} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label className="field">
          <span>Description (optional)</span>
          <input className="input" value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
        <fieldset className="kb-chunking">
          <legend>Chunking</legend>
          <ChunkingFields value={chunking} onChange={setChunking} />
          {rechunk && documents.length > 0 && (
            <p className="kb-notice" role="status">
              New chunking re-indexes all {documents.length} {documents.length === 1 ? "document" : "documents"}: each
              is chunked and embedded again; searches answer from the current chunks until it is done.
            </p>
          )}
          <ChunkPreview
            orgId={orgId}
            kbId={kb.id}
            settings={chunking}
            doc={first ? { id: first.id, name: first.name } : undefined}
          />
        </fieldset>
        <FormError error={update.error} />
        <div className="dialog__footer">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button
            type="submit"
            className="btn btn--primary"
            disabled={update.isPending || (rechunk && chunkingProblem(chunking) !== null)}
          >
            {rechunk && documents.length > 0 ? "Save and re-index" : "Save"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function ChunkBrowser({ orgId, kbId, docId }: { orgId: string; kbId: string; docId: string }) {
  const chunks = useChunks(orgId, kbId, docId);
  if (chunks.isPending) return <LoadingState />;
  if (chunks.isError) return <ErrorState error={chunks.error} />;
  return (
    <section className="card card__body kb-section" aria-label="Chunks">
      <h3>Chunks ({chunks.data.count})</h3>
      <ol className="chunks">
        {chunks.data.results.map((chunk) => (
          <li key={chunk.id}>
            <div className="muted">
              #{chunk.ordinal} · {chunk.token_count} tokens{chunk.page ? ` · page ${chunk.page}` : ""}
              {chunk.heading_path.length ? ` · ${chunk.heading_path.join(" › ")}` : ""}
            </div>
            <p>{chunk.text}</p>
          </li>
        ))}
      </ol>
    </section>
  );
}

function SearchPanel({ orgId, kbId }: { orgId: string; kbId: string }) {
  const search = useSearch(orgId, kbId);
  const [query, setQuery] = useState("");
  const [mode, setMode] = useState<SearchMode>("hybrid");
  const run = (nextMode = mode) => query.trim() && search.mutate({ query, mode: nextMode, k: 5 });
  return (
    <section className="card card__body kb-section" aria-label="Test a question">
      <h3>Test a question</h3>
      <form
        className="kb-search-form"
        onSubmit={(e) => {
          e.preventDefault();
          run();
        }}
      >
        <input
          className="input"
          aria-label="Question"
          placeholder="Ask what a user would ask…"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
        <div role="radiogroup" aria-label="Search mode" className="kb-modes">
          {(["vector", "keyword", "hybrid"] as const).map((m) => (
            <label key={m}>
              <input
                type="radio"
                name="mode"
                checked={mode === m}
                onChange={() => (setMode(m), run(m))}
              />
              {m}
            </label>
          ))}
        </div>
        <button type="submit" className="btn btn--primary" disabled={search.isPending}>
          Search
        </button>
      </form>
      {search.isPending && <p className="muted">Searching…</p>}
      {search.isError && <ErrorState error={search.error} />}
      {search.data && search.data.hits.length === 0 && <p className="muted">No chunk matches.</p>}
      {search.data && (
        <ol className="results" aria-label="Results">
          {search.data.hits.map((hit) => (
            <li key={hit.chunk_id} data-chunk={hit.chunk_id}>
              <div className="muted">
                <strong>{hit.score.toFixed(3)}</strong> · {hit.document_name}
                {hit.page ? ` · page ${hit.page}` : ""}
                {hit.heading_path.length ? ` · ${hit.heading_path.join(" › ")}` : ""} · chunk {hit.chunk_id}
              </div>
              <p>{highlight(hit.text, search.data.terms)}</p>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
