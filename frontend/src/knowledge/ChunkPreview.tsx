/** Chunking settings (strategy, size, overlap) and a live preview of the chunks they make. */
import { useEffect, useMemo, useState } from "react";
import { FormError } from "../ui/feedback";
import { useChunkPreviewQuery, type ChunkSettings, type ChunkStrategy, type PreviewSource } from "./api";

export const MIN_CHUNK_SIZE = 32;
export const MAX_CHUNK_SIZE = 2048;
export const PREVIEW_DEBOUNCE_MS = 350;

/** Why the backend would refuse these settings, or null (same bounds as apps/knowledge/chunking.py). */
export function chunkingProblem({ chunk_size: size, chunk_overlap: overlap }: ChunkSettings): string | null {
  if (!Number.isInteger(size) || size < MIN_CHUNK_SIZE || size > MAX_CHUNK_SIZE) {
    return `Chunk size must be between ${MIN_CHUNK_SIZE} and ${MAX_CHUNK_SIZE} tokens.`;
  }
  if (!Number.isInteger(overlap) || overlap < 0 || overlap > Math.floor(size / 2)) {
    return "Overlap must be at least 0 and at most half the chunk size.";
  }
  return null;
}

/** `value`, once it has stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms = PREVIEW_DEBOUNCE_MS): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

export function ChunkingFields({ value, onChange }: { value: ChunkSettings; onChange: (next: ChunkSettings) => void }) {
  const set = (patch: Partial<ChunkSettings>) => onChange({ ...value, ...patch });
  return (
    <>
      <label className="field">
        <span>Strategy</span>
        <select
          className="select"
          value={value.chunk_strategy}
          onChange={(e) => set({ chunk_strategy: e.target.value as ChunkStrategy })}
        >
          <option value="sentence">Sentences with overlap</option>
          <option value="markdown">Headings (Markdown-aware)</option>
          <option value="token">Fixed token windows</option>
        </select>
      </label>
      <label className="field">
        <span>Chunk size (tokens)</span>
        <input
          className="input"
          type="number"
          min={MIN_CHUNK_SIZE}
          max={MAX_CHUNK_SIZE}
          value={value.chunk_size}
          onChange={(e) => set({ chunk_size: Number(e.target.value) })}
        />
      </label>
      <label className="field">
        <span>Overlap (tokens)</span>
        <input
          className="input"
          type="number"
          min={0}
          max={Math.floor(value.chunk_size / 2) || MAX_CHUNK_SIZE / 2}
          value={value.chunk_overlap}
          onChange={(e) => set({ chunk_overlap: Number(e.target.value) })}
        />
      </label>
    </>
  );
}

interface ChunkPreviewProps {
  orgId: string;
  settings: ChunkSettings;
  /** Preview on this base's parsed document; without one, on a sample the user pastes. */
  kbId?: string;
  doc?: { id: string; name: string };
}

/**
 * The chunks `settings` would make, updated as they change (debounced): count, each chunk's
 * size, and the part that repeats the previous chunk (the overlap) highlighted. Nothing is saved.
 */
export function ChunkPreview({ orgId, settings, kbId, doc }: ChunkPreviewProps) {
  const [sample, setSample] = useState("");
  // Debounce one primitive so a new settings object each render does not restart the timer.
  const wanted = JSON.stringify({ settings, sample, kbId, document: doc?.id });
  const settled = useDebounced(wanted);
  const params = useMemo(
    () => JSON.parse(settled) as { settings: ChunkSettings; sample: string; kbId?: string; document?: string },
    [settled],
  );
  const source: PreviewSource =
    params.document && params.kbId ? { kbId: params.kbId, document: params.document } : { text: params.sample, kbId: params.kbId };
  const problem = chunkingProblem(params.settings);
  const hasInput = "document" in source || source.text.trim().length > 0;
  const preview = useChunkPreviewQuery(orgId, source, params.settings, hasInput && !problem);
  const pending = settled !== wanted || preview.isFetching;
  const chunks = preview.data?.chunks ?? [];
  const overlaps = chunks.slice(1).map((c) => c.overlap_tokens);
  const meanOverlap = overlaps.length ? Math.round(overlaps.reduce((a, b) => a + b, 0) / overlaps.length) : 0;

  return (
    <section className="kb-preview" aria-label="Chunk preview">
      {doc ? (
        <p className="muted">
          Preview on <strong>{doc.name}</strong>, the first document uploaded.
        </p>
      ) : (
        <label className="field">
          <span>Sample text for a preview</span>
          <textarea
            value={sample}
            maxLength={20_000}
            placeholder="Paste a page of a typical document to see how it would be chunked…"
            onChange={(e) => setSample(e.target.value)}
          />
        </label>
      )}
      {problem ? (
        <p className="kb-error" role="alert">
          {problem}
        </p>
      ) : !hasInput ? null : preview.isError ? (
        <FormError error={preview.error} />
      ) : preview.data ? (
        <>
          <p className="muted" aria-live="polite" data-testid="preview-summary">
            <strong>
              {preview.data.truncated ? `First ${chunks.length}` : chunks.length} {chunks.length === 1 ? "chunk" : "chunks"}
            </strong>
            {overlaps.length > 0 && ` · overlap about ${meanOverlap} tokens`}
            {pending && " · updating…"}
          </p>
          {chunks.length > 0 && (
            <ol className="chunks" aria-label="Preview chunks">
              {chunks.map((chunk, i) => (
                <li key={`${chunk.start_char}-${i}`} data-testid="preview-chunk">
                  <div className="muted">
                    #{i + 1} · {chunk.token_count} tokens · {chunk.text.length} chars
                    {chunk.overlap_tokens > 0 && ` · ${chunk.overlap_tokens} tokens overlap`}
                    {chunk.page ? ` · page ${chunk.page}` : ""}
                    {chunk.heading_path.length ? ` · ${chunk.heading_path.join(" › ")}` : ""}
                  </div>
                  <p>
                    {chunk.overlap_chars > 0 && (
                      <mark className="kb-overlap" title="Repeats the end of the previous chunk">
                        {chunk.text.slice(0, chunk.overlap_chars)}
                      </mark>
                    )}
                    {chunk.text.slice(chunk.overlap_chars)}
                  </p>
                </li>
              ))}
            </ol>
          )}
        </>
      ) : (
        <p className="muted">Chunking…</p>
      )}
    </section>
  );
}
