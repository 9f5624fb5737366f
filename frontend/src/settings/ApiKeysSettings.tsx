import { useState } from "react";
import { useApiKeys, useRevokeApiKey } from "../api/orgs";
import type { ApiKey } from "../api/types";
import { formatDate, formatRelative } from "../lib/format";
import { assignableRoles, canManage } from "../lib/roles";
import { useCurrentOrg } from "../shell/session";
import { Badge, RoleBadge } from "../ui/Badge";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { EmptyState, ErrorState, LoadingState } from "../ui/feedback";
import { KeyIcon, PlusIcon } from "../ui/icons";
import { CreateApiKeyDialog } from "./CreateApiKeyDialog";

export function ApiKeysSettings() {
  const org = useCurrentOrg();
  const manage = canManage(org.role);
  const keys = useApiKeys(org.id, manage);
  const revoke = useRevokeApiKey(org.id);
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);

  function closeRevoke() {
    setRevoking(null);
    revoke.reset();
  }

  const createButton = (
    <button type="button" className="btn btn--primary" onClick={() => setCreating(true)}>
      <PlusIcon size={15} />
      Create API key
    </button>
  );

  if (!manage) {
    return (
      <EmptyState icon={<KeyIcon size={24} />} title="API keys are managed by admins">
        Ask an admin or owner of {org.name} for a key if a program needs to call the Trellis API.
      </EmptyState>
    );
  }

  return (
    <>
      <div className="section__header">
        <div>
          <h2 className="section__title">API keys</h2>
          <p className="muted">
            Keys let programs call the API as this organization: send <code>Authorization: Bearer &lt;key&gt;</code>.
          </p>
        </div>
        {keys.data && keys.data.length > 0 ? createButton : null}
      </div>

      {keys.isPending ? (
        <LoadingState label="Loading API keys…" />
      ) : keys.isError ? (
        <ErrorState error={keys.error} onRetry={() => void keys.refetch()} />
      ) : keys.data.length === 0 ? (
        <EmptyState icon={<KeyIcon size={24} />} title="No API keys yet" action={createButton}>
          Create a key for each program or pipeline that talks to Trellis, so you can revoke one without touching
          the others.
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Role</th>
                <th scope="col">Created by</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Status</th>
                <th scope="col" className="table__actions">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.data.map((key) => {
                const active = !key.revoked_at;
                return (
                  <tr key={key.id} className={active ? undefined : "table__row--inactive"}>
                    <td className="cell-user__name">{key.name}</td>
                    <td>
                      <code className="mono">{key.prefix}…</code>
                    </td>
                    <td>
                      <RoleBadge role={key.role} />
                    </td>
                    <td>{key.created_by ?? <span className="muted">—</span>}</td>
                    <td className="nowrap">{formatDate(key.created_at)}</td>
                    <td className="nowrap" title={key.last_used_at ?? undefined}>
                      {formatRelative(key.last_used_at)}
                    </td>
                    <td>
                      {active ? (
                        <Badge tone="success">Active</Badge>
                      ) : (
                        <span title={`Revoked ${formatDate(key.revoked_at)}`}>
                          <Badge tone="danger">Revoked</Badge>
                        </span>
                      )}
                    </td>
                    <td className="table__actions">
                      {active ? (
                        <button
                          type="button"
                          className="btn btn--danger-ghost btn--sm"
                          aria-label={`Revoke ${key.name}`}
                          onClick={() => setRevoking(key)}
                        >
                          Revoke
                        </button>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}

      {creating ? (
        <CreateApiKeyDialog orgId={org.id} roles={assignableRoles(org.role)} onClose={() => setCreating(false)} />
      ) : null}
      {revoking ? (
        <ConfirmDialog
          title="Revoke API key"
          confirmLabel="Revoke"
          pending={revoke.isPending}
          error={revoke.error}
          onCancel={closeRevoke}
          onConfirm={async () => {
            try {
              await revoke.mutateAsync(revoking.id);
              closeRevoke();
            } catch {
              // revoke.error is shown in the dialog
            }
          }}
        >
          Revoke <strong>{revoking.name}</strong> ({revoking.prefix}…)? Programs using it stop working immediately.
          This cannot be undone.
        </ConfirmDialog>
      ) : null}
    </>
  );
}
