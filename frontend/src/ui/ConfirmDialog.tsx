import type { ReactNode } from "react";
import { Dialog } from "./Dialog";
import { FormError } from "./feedback";

interface ConfirmDialogProps {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
  pending?: boolean;
  error?: unknown;
  danger?: boolean;
}

export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  onConfirm,
  onCancel,
  pending = false,
  error,
  danger = true,
}: ConfirmDialogProps) {
  return (
    <Dialog title={title} onClose={onCancel} dismissable={!pending}>
      <div className="dialog__body">{children}</div>
      <FormError error={error} />
      <footer className="dialog__footer">
        <button type="button" className="btn btn--ghost" onClick={onCancel} disabled={pending}>
          Cancel
        </button>
        <button
          type="button"
          className={`btn ${danger ? "btn--danger" : "btn--primary"}`}
          onClick={onConfirm}
          disabled={pending}
          data-autofocus
        >
          {confirmLabel}
        </button>
      </footer>
    </Dialog>
  );
}
