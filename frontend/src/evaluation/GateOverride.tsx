/**
 * Publishing refused by the flow's evaluation gate (409 gate_not_run / gate_pending / gate_failed):
 * admins (and owners) may publish past it with a reason, which the server audits. Everyone else
 * sees only the refusal; the server refuses an override from them anyway.
 */
import { useState } from "react";
import { Link } from "react-router";
import { api, unwrap } from "../api/client";
import { isApiError } from "../lib/errors";
import { canManage } from "../lib/roles";
import { useCurrentOrg } from "../shell/session";
import { Dialog } from "../ui/Dialog";
import { FormError } from "../ui/feedback";

export const GATE_REFUSALS = ["gate_not_run", "gate_pending", "gate_failed"] as const;
const MIN_REASON = 5;

export function isGateRefusal(error: unknown): boolean {
  return isApiError(error) && (GATE_REFUSALS as readonly string[]).includes(error.code);
}

interface Props {
  flowId: string;
  note: string;
  /** The refusal the last publish got (anything else: nothing is shown). */
  refusal: unknown;
  onPublished: (version: { number: number }) => void;
}

/** The gate's refusal with a link to its report, and the admin's "Publish past the gate…" dialog. */
export function GateOverride({ flowId, note, refusal, onPublished }: Props) {
  const org = useCurrentOrg();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<unknown>(null);
  if (!isGateRefusal(refusal)) return null;
  const admin = canManage(org.role);

  const submit = async () => {
    if (reason.trim().length < MIN_REASON) {
      setError(new Error("Say why the gate is overridden (at least a few words)."));
      return;
    }
    setPending(true);
    setError(null);
    try {
      const version = await unwrap(
        api.POST("/api/v1/orgs/{org_id}/flows/{flow_id}/versions/", {
          params: { path: { org_id: org.id, flow_id: flowId } },
          body: { note, override_reason: reason.trim() },
        }),
      );
      setOpen(false);
      setReason("");
      onPublished(version);
    } catch (failure) {
      setError(failure);
    } finally {
      setPending(false);
    }
  };

  return (
    <div className="gate-override" data-testid="gate-refusal">
      <p className="muted small">
        The flow's evaluation gate decides what may be published: see its report on the{" "}
        <Link to={`/o/${org.id}/evaluation`}>Evaluation page</Link> (Gates).
      </p>
      {admin ? (
        <button type="button" className="btn btn--danger btn--sm" onClick={() => setOpen(true)}>
          Publish past the gate…
        </button>
      ) : (
        <p className="muted small">Only an admin can publish past a failed gate.</p>
      )}
      {open && (
        <Dialog title="Publish past the evaluation gate" onClose={() => setOpen(false)} dismissable={!pending} size="sm">
          <form
            className="dialog__body"
            onSubmit={(event) => {
              event.preventDefault();
              void submit();
            }}
          >
            <p>
              The draft is published although it did not pass the gate. Your name and this reason are kept in the audit
              log.
            </p>
            <label className="field__label" htmlFor="gate-override-reason">
              Why is the gate overridden?
            </label>
            <textarea
              id="gate-override-reason"
              className="input"
              rows={3}
              maxLength={1000}
              value={reason}
              onChange={(event) => setReason(event.target.value)}
              data-autofocus
            />
            <FormError error={error} />
            <footer className="dialog__footer">
              <button type="button" className="btn btn--ghost" onClick={() => setOpen(false)} disabled={pending}>
                Cancel
              </button>
              <button type="submit" className="btn btn--danger" disabled={pending || reason.trim().length < MIN_REASON}>
                {pending ? "Publishing…" : "Publish anyway"}
              </button>
            </footer>
          </form>
        </Dialog>
      )}
    </div>
  );
}
