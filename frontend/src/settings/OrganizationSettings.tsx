import { useEffect, useState, type FormEvent } from "react";
import { useOrganization, useRenameOrganization } from "../api/orgs";
import { formatDate } from "../lib/format";
import { fieldErrors } from "../lib/forms";
import { canManage, ROLE_LABELS } from "../lib/roles";
import { useCurrentOrg } from "../shell/session";
import { CopyButton } from "../ui/CopyButton";
import { ErrorState, FormError, LoadingState } from "../ui/feedback";
import { Field } from "../ui/Field";
import { DocsIcon } from "../ui/icons";
import { API_DOCS_URL } from "../shell/Topbar";
import { AccountEmailSection } from "./AccountEmailSection";

export function OrganizationSettings() {
  const current = useCurrentOrg();
  const org = useOrganization(current.id, current);
  const rename = useRenameOrganization(current.id);
  const [name, setName] = useState(current.name);
  const [saved, setSaved] = useState(false);
  const editable = canManage(current.role);

  useEffect(() => {
    if (org.data) setName(org.data.name);
  }, [org.data]);

  if (org.isPending) return <LoadingState />;
  if (org.isError) return <ErrorState error={org.error} onRetry={() => void org.refetch()} />;

  const trimmed = name.trim();
  const dirty = trimmed !== org.data.name;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setSaved(false);
    try {
      await rename.mutateAsync(trimmed);
      setSaved(true);
    } catch {
      // rename.error is shown in the form
    }
  }

  return (
    <div className="form" style={{ gap: 24 }}>
      <form className="card" onSubmit={submit} noValidate>
        <div className="card__body form">
          <div>
            <h2 className="section__title">Profile</h2>
            <p className="muted">
              {editable ? "The name everyone in the organization sees." : "Only admins and owners can rename the organization."}
            </p>
          </div>
          <FormError error={rename.error} />
          <Field label="Name" errors={fieldErrors(rename.error, "name")}>
            <input
              className="input"
              value={name}
              onChange={(event) => {
                setName(event.target.value);
                setSaved(false);
              }}
              maxLength={120}
              disabled={!editable}
              required
            />
          </Field>
        </div>
        {editable ? (
          <div className="card__footer">
            {saved && !dirty ? (
              <span className="muted" role="status" style={{ marginRight: "auto", alignSelf: "center" }}>
                Saved.
              </span>
            ) : null}
            <button type="submit" className="btn btn--primary" disabled={!dirty || !trimmed || rename.isPending}>
              {rename.isPending ? "Saving…" : "Save"}
            </button>
          </div>
        ) : null}
      </form>

      <section className="card">
        <div className="card__body">
          <h2 className="section__title" style={{ marginBottom: 14 }}>
            Details
          </h2>
          <dl className="definition-list">
            <dt>Organization ID</dt>
            <dd>
              <code data-testid="org-id">{org.data.id}</code>
              <CopyButton value={org.data.id} />
            </dd>
            <dt>Slug</dt>
            <dd>
              <code data-testid="org-slug">{org.data.slug}</code>
            </dd>
            <dt>Your role</dt>
            <dd>{ROLE_LABELS[current.role]}</dd>
            <dt>Created</dt>
            <dd>{formatDate(org.data.created_at)}</dd>
          </dl>
        </div>
      </section>

      <AccountEmailSection />

      <div className="callout">
        <DocsIcon size={16} />
        <span>
          Programs reach this organization through the REST API with an API key. See the{" "}
          <a href={API_DOCS_URL} target="_blank" rel="noreferrer">
            interactive API docs
          </a>
          .
        </span>
      </div>
    </div>
  );
}
