/** A base's sources beyond uploads: website crawls, server folders and S3-compatible buckets, each with its last sync,
 * live counters while a sync runs (socket events), its errors, "Sync now" and delete. */
import { useState } from "react";
import { formatDateTime } from "../lib/format";
import { Badge } from "../ui/Badge";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { Dialog } from "../ui/Dialog";
import { ErrorState, FormError, LoadingState } from "../ui/feedback";
import { isSyncing, useAddSource, useSourceAction, useSources, type KbSource, type SourceInput } from "./api";

const TONE = { idle: "neutral", queued: "neutral", syncing: "brand", ok: "success", failed: "danger" } as const;
const STATUS = { idle: "never synced", queued: "queued", syncing: "syncing", ok: "synced", failed: "failed" } as const;
const SCHEDULES = [
  { label: "Only when I click Sync now", value: "" },
  { label: "Every hour", value: "60" },
  { label: "Every 6 hours", value: "360" },
  { label: "Every day", value: "1440" },
  { label: "Every week", value: "10080" },
];

function counters(source: KbSource): string {
  const parts = [`${source.found} found`, `${source.added} new`, `${source.changed} changed`];
  parts.push(`${source.unchanged} unchanged`, `${source.removed} removed`);
  if (source.skipped) parts.push(`${source.skipped} skipped`);
  return parts.join(" · ");
}

export function SourcesPanel({ orgId, kbId }: { orgId: string; kbId: string }) {
  const sources = useSources(orgId, kbId);
  const action = useSourceAction(orgId, kbId);
  const [adding, setAdding] = useState(false);
  const [deleting, setDeleting] = useState<KbSource | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <section className="card card__body kb-section" aria-label="Sources">
      <div className="kb-section__head">
        <h3>Websites, folders and buckets</h3>
        <button type="button" className="btn btn--sm" onClick={() => setAdding(true)}>
          Add a source
        </button>
      </div>
      {sources.isPending && <LoadingState />}
      {sources.isError && <ErrorState error={sources.error} />}
      {sources.data?.length === 0 && (
        <p className="muted">
          Besides uploads, a base can crawl a website (a start page or its sitemap), read a folder on the server or an
          S3-compatible bucket, and sync again on a schedule: only changed pages and files are embedded again.
        </p>
      )}
      {!!sources.data?.length && (
        <ul className="kb-sources">
          {sources.data.map((source) => (
            <li key={source.id} data-source={source.name}>
              <div className="kb-sources__row">
                <div className="kb-sources__what">
                  <strong>{source.name}</strong>
                  <div className="muted kb-wrap">
                    {where(source)} · {source.document_count} documents
                    {source.sync_every_minutes ? ` · syncs every ${scheduleLabel(source.sync_every_minutes)}` : ""}
                  </div>
                </div>
                <Badge tone={TONE[source.status]}>{STATUS[source.status]}</Badge>
                <button
                  type="button"
                  className="btn btn--sm"
                  disabled={isSyncing(source) || action.isPending}
                  onClick={() => action.mutate({ sourceId: source.id, action: "sync" })}
                >
                  Sync now
                </button>
                <button type="button" className="btn btn--danger-ghost btn--sm" onClick={() => setDeleting(source)}>
                  Delete
                </button>
              </div>
              <div className="muted" role="status" aria-label={`${source.name} sync`}>
                {isSyncing(source) ? (
                  `Syncing… ${counters(source)}`
                ) : source.last_sync_at ? (
                  <>
                    Last sync <time dateTime={source.last_sync_at}>{formatDateTime(source.last_sync_at)}</time>:{" "}
                    {counters(source)}
                  </>
                ) : (
                  "Not synced yet."
                )}
                {source.next_sync_at && !isSyncing(source) ? ` · next ${formatDateTime(source.next_sync_at)}` : ""}
              </div>
              {source.error_message && <div className="kb-error">{source.error_message}</div>}
              {source.sync_errors.length > 0 && (
                <details open={open === source.id} onToggle={(e) => e.currentTarget.open && setOpen(source.id)}>
                  <summary>
                    {source.sync_errors.length} {source.sync_errors.length === 1 ? "problem" : "problems"} in the last
                    sync
                  </summary>
                  <ul className="kb-source-errors">
                    {source.sync_errors.map((error, i) => (
                      <li key={i}>
                        <span className="kb-wrap">{error.item || "—"}</span>: {error.message}
                      </li>
                    ))}
                  </ul>
                </details>
              )}
            </li>
          ))}
        </ul>
      )}
      <FormError error={action.error} />
      {adding && <AddSourceDialog orgId={orgId} kbId={kbId} onClose={() => setAdding(false)} />}
      {deleting && (
        <ConfirmDialog
          danger
          title={`Delete ${deleting.name}?`}
          confirmLabel="Delete source"
          pending={action.isPending}
          error={action.error}
          onCancel={() => setDeleting(null)}
          onConfirm={() =>
            action.mutate({ sourceId: deleting.id, action: "delete" }, { onSuccess: () => setDeleting(null) })
          }
        >
          Its {deleting.document_count} documents and their chunks are removed from search.
        </ConfirmDialog>
      )}
    </section>
  );
}

function where(source: KbSource): string {
  if (source.kind === "web") return source.url;
  if (source.kind === "folder") return source.path;
  return `s3://${source.bucket}/${source.prefix}${source.url ? ` at ${source.url}` : ""}`;
}

function scheduleLabel(minutes: number): string {
  if (minutes % 10080 === 0) return minutes === 10080 ? "week" : `${minutes / 10080} weeks`;
  if (minutes % 1440 === 0) return minutes === 1440 ? "day" : `${minutes / 1440} days`;
  if (minutes % 60 === 0) return minutes === 60 ? "hour" : `${minutes / 60} hours`;
  return `${minutes} minutes`;
}

function AddSourceDialog({ orgId, kbId, onClose }: { orgId: string; kbId: string; onClose: () => void }) {
  const add = useAddSource(orgId, kbId);
  const [kind, setKind] = useState<"web" | "folder" | "s3">("web");
  const [bucket, setBucket] = useState({
    endpoint_url: "",
    bucket: "",
    prefix: "",
    region: "",
    path_style: false,
    access_key_id: "",
    secret_access_key: "",
  });
  const setBucketField = (field: keyof typeof bucket, value: string | boolean) =>
    setBucket((current) => ({ ...current, [field]: value }));
  const [url, setUrl] = useState("");
  const [path, setPath] = useState("");
  const [name, setName] = useState("");
  const [maxPages, setMaxPages] = useState(50);
  const [maxDepth, setMaxDepth] = useState(2);
  const [schedule, setSchedule] = useState("");
  const sitemap = /\.xml($|\?)|sitemap/i.test(url);
  return (
    <Dialog title="Add a source" onClose={onClose} dismissable={!add.isPending} size="md">
      <form
        className="form"
        onSubmit={(event) => {
          event.preventDefault();
          const body: SourceInput = {
            kind,
            name,
            max_pages: maxPages,
            max_depth: maxDepth,
            sync_every_minutes: schedule ? Number(schedule) : null,
            ...(kind === "web"
              ? { url: url.trim() }
              : kind === "folder"
                ? { path: path.trim() }
                : { ...bucket, endpoint_url: bucket.endpoint_url.trim(), bucket: bucket.bucket.trim() }),
          };
          add.mutate(body, { onSuccess: onClose });
        }}
      >
        <div role="radiogroup" aria-label="Kind of source" className="kb-modes">
          <label>
            <input type="radio" name="kind" checked={kind === "web"} onChange={() => setKind("web")} /> Website
          </label>
          <label>
            <input type="radio" name="kind" checked={kind === "folder"} onChange={() => setKind("folder")} /> Folder on
            the server
          </label>
          <label>
            <input type="radio" name="kind" checked={kind === "s3"} onChange={() => setKind("s3")} /> S3-compatible
            bucket
          </label>
        </div>
        {kind === "s3" ? (
          <BucketFields bucket={bucket} set={setBucketField} />
        ) : kind === "web" ? (
          <label className="field">
            <span>Start page or sitemap URL</span>
            <input
              className="input"
              type="url"
              required
              placeholder="https://docs.example.com/ or https://docs.example.com/sitemap.xml"
              value={url}
              onChange={(e) => setUrl(e.target.value)}
            />
            <small className="muted">
              {sitemap
                ? "A sitemap: the pages it lists on the same site are read (links are not followed)."
                : "Links are followed on the same site only; robots.txt is respected."}
            </small>
          </label>
        ) : (
          <label className="field">
            <span>Folder (absolute path on the server)</span>
            <input
              className="input"
              required
              placeholder="/srv/shared/handbook"
              value={path}
              onChange={(e) => setPath(e.target.value)}
            />
            <small className="muted">
              Only folders the server's operator allows can be read; PDF, Word, Markdown, HTML, text and CSV files are
              indexed. Organization admins only.
            </small>
          </label>
        )}
        <label className="field">
          <span>Name (optional)</span>
          <input className="input" maxLength={120} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <div className="kb-fields-row">
          <label className="field">
            <span>{kind === "web" ? "At most pages" : "At most files"}</span>
            <input
              className="input"
              type="number"
              min={1}
              max={10000}
              value={maxPages}
              onChange={(e) => setMaxPages(Number(e.target.value))}
            />
          </label>
          {kind === "web" && !sitemap && (
            <label className="field">
              <span>Link depth</span>
              <input
                className="input"
                type="number"
                min={0}
                max={10}
                value={maxDepth}
                onChange={(e) => setMaxDepth(Number(e.target.value))}
              />
            </label>
          )}
          <label className="field">
            <span>Sync again</span>
            <select className="input" value={schedule} onChange={(e) => setSchedule(e.target.value)}>
              {SCHEDULES.map((option) => (
                <option key={option.value} value={option.value}>
                  {option.label}
                </option>
              ))}
            </select>
          </label>
        </div>
        <FormError error={add.error} />
        <div className="dialog__footer">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn--primary" disabled={add.isPending}>
            {add.isPending ? "Adding…" : "Add and sync"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

type BucketInput = {
  endpoint_url: string;
  bucket: string;
  prefix: string;
  region: string;
  path_style: boolean;
  access_key_id: string;
  secret_access_key: string;
};

function BucketFields({
  bucket,
  set,
}: {
  bucket: BucketInput;
  set: (field: keyof BucketInput, value: string | boolean) => void;
}) {
  return (
    <fieldset className="kb-bucket">
      <legend className="sr-only">Bucket</legend>
      <div className="kb-fields-row">
        <label className="field">
          <span>Bucket</span>
          <input
            className="input"
            required
            placeholder="company-handbook"
            value={bucket.bucket}
            onChange={(e) => set("bucket", e.target.value)}
          />
        </label>
        <label className="field">
          <span>Prefix (optional)</span>
          <input
            className="input"
            placeholder="manuals/"
            value={bucket.prefix}
            onChange={(e) => set("prefix", e.target.value)}
          />
        </label>
      </div>
      <label className="field">
        <span>Endpoint URL (empty for Amazon S3)</span>
        <input
          className="input"
          type="url"
          placeholder="https://minio.example.com"
          value={bucket.endpoint_url}
          onChange={(e) => set("endpoint_url", e.target.value)}
        />
      </label>
      <div className="kb-fields-row">
        <label className="field">
          <span>Region</span>
          <input
            className="input"
            placeholder="us-east-1"
            value={bucket.region}
            onChange={(e) => set("region", e.target.value)}
          />
        </label>
        <label className="field kb-check">
          <input type="checkbox" checked={bucket.path_style} onChange={(e) => set("path_style", e.target.checked)} />
          <span>Path-style addressing (MinIO and most self-hosted servers)</span>
        </label>
      </div>
      <div className="kb-fields-row">
        <label className="field">
          <span>Access key ID</span>
          <input
            className="input"
            autoComplete="off"
            value={bucket.access_key_id}
            onChange={(e) => set("access_key_id", e.target.value)}
          />
        </label>
        <label className="field">
          <span>Secret access key</span>
          <input
            className="input"
            type="password"
            autoComplete="new-password"
            value={bucket.secret_access_key}
            onChange={(e) => set("secret_access_key", e.target.value)}
          />
        </label>
      </div>
      <small className="muted">
        Leave both keys empty for a public bucket. The secret is stored encrypted and never shown again. PDF, Word,
        Markdown, HTML, text and CSV objects are indexed; a re-sync reads only objects whose ETag changed.
      </small>
    </fieldset>
  );
}
