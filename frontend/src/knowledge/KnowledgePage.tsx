/** Knowledge: the list of knowledge bases, and one base's documents, uploads and test searches. */
import { useState } from "react";
import { useSearchParams } from "react-router";
import { useCurrentOrg } from "../shell/session";
import { Badge } from "../ui/Badge";
import { Dialog } from "../ui/Dialog";
import { EmptyState, ErrorState, FormError, LoadingState } from "../ui/feedback";
import { KnowledgeIcon } from "../ui/icons";
import { PageHeader } from "../ui/PageHeader";
import { useCreateKnowledgeBase, useKnowledgeBases, type ChunkSettings } from "./api";
import { EmbeddingModelSelect } from "./Embeddings";
import { ChunkingFields, ChunkPreview } from "./ChunkPreview";
import { KnowledgeBaseView } from "./KnowledgeBaseView";
import "./knowledge.css";

export function KnowledgePage() {
  const org = useCurrentOrg();
  const [params, setParams] = useSearchParams();
  const selected = params.get("kb");
  const bases = useKnowledgeBases(org.id);
  const [creating, setCreating] = useState(false);
  const open = (id: string | null) => setParams(id ? { kb: id } : {});

  if (selected) {
    const kb = bases.data?.find((b) => b.id === selected);
    if (bases.isPending) return <LoadingState />;
    if (kb) return <KnowledgeBaseView orgId={org.id} kb={kb} onBack={() => open(null)} />;
  }
  const create = (
    <button type="button" className="btn btn--primary" onClick={() => setCreating(true)}>
      New knowledge base
    </button>
  );
  return (
    <div className="page">
      <PageHeader title="Knowledge" description="The documents your flows answer from." actions={create} />
      {bases.isPending && <LoadingState />}
      {bases.isError && <ErrorState error={bases.error} onRetry={() => void bases.refetch()} />}
      {bases.data?.length === 0 && (
        <EmptyState icon={<KnowledgeIcon size={24} />} title="No knowledge bases yet" action={create}>
          A knowledge base is a collection of documents (PDF, Word, Markdown, HTML, text, CSV) that Trellis parses,
          chunks and embeds, so a flow's retrieve step can ground its answers in them.
        </EmptyState>
      )}
      {!!bases.data?.length && (
        <div className="table-wrap">
        <table className="table" aria-label="Knowledge bases">
          <thead>
            <tr>
              <th>Name</th>
              <th>Documents</th>
              <th>Status</th>
              <th>Chunking</th>
            </tr>
          </thead>
          <tbody>
            {bases.data.map((kb) => (
              <tr key={kb.id}>
                <td>
                  <button type="button" className="kb-link" onClick={() => open(kb.id)}>
                    {kb.name}
                  </button>
                  {kb.description && <div className="muted">{kb.description}</div>}
                </td>
                <td>{kb.document_count}</td>
                <td>
                  {kb.active_count > 0 && <Badge tone="brand">{kb.active_count} in progress</Badge>}{" "}
                  {kb.failed_count > 0 && <Badge tone="danger">{kb.failed_count} failed</Badge>}{" "}
                  {kb.active_count === 0 && kb.failed_count === 0 && <Badge tone="success">{kb.ready_count} ready</Badge>}
                </td>
                <td className="muted">
                  {kb.chunk_strategy}, {kb.chunk_size} tokens, {kb.embedding_model} ({kb.embedding_dims} dims)
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
      {creating && <CreateDialog orgId={org.id} onClose={() => setCreating(false)} onCreated={(id) => open(id)} />}
    </div>
  );
}

function CreateDialog({ orgId, onClose, onCreated }: { orgId: string; onClose: () => void; onCreated: (id: string) => void }) {
  const create = useCreateKnowledgeBase(orgId);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [chunking, setChunking] = useState<ChunkSettings>({ chunk_strategy: "sentence", chunk_size: 256, chunk_overlap: 32 });
  const [embeddingModel, setEmbeddingModel] = useState("local");
  return (
    <Dialog title="New knowledge base" onClose={onClose} size="md">
      <form
        className="form"
        onSubmit={(event) => {
          event.preventDefault();
          create.mutate(
            { name, description, embedding_model: embeddingModel, ...chunking },
            { onSuccess: (kb) => (onClose(), onCreated(kb.id)) },
          );
        }}
      >
        <label className="field">
          <span>Name</span>
          <input className="input" required maxLength={120} value={name} onChange={(e) => setName(e.target.value)} autoFocus />
        </label>
        <label className="field">
          <span>Description (optional)</span>
          <input className="input" value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
        <EmbeddingModelSelect orgId={orgId} value={embeddingModel} onChange={setEmbeddingModel} />
        <details className="kb-chunking">
          <summary>Chunking (the defaults suit most documents)</summary>
          <ChunkingFields value={chunking} onChange={setChunking} />
          <ChunkPreview orgId={orgId} settings={chunking} />
        </details>
        <FormError error={create.error} />
        <div className="dialog__footer">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn--primary" disabled={create.isPending}>
            Create
          </button>
        </div>
      </form>
    </Dialog>
  );
}
