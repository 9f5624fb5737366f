/** Loading, error and empty states, used the same way on every page. */
import type { ReactNode } from "react";
import { errorMessage } from "../lib/errors";
import { AlertIcon } from "./icons";

export function Spinner({ label = "Loading" }: { label?: string }) {
  return <span className="spinner" role="status" aria-label={label} />;
}

export function LoadingState({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="state state--loading">
      <Spinner label={label} />
      <span className="state__text">{label}</span>
    </div>
  );
}

/** A server (or network) error with its message and an optional retry. */
export function ErrorState({ error, onRetry, title = "Something went wrong" }: {
  error: unknown;
  onRetry?: () => void;
  title?: string;
}) {
  return (
    <div className="state state--error" role="alert">
      <AlertIcon size={22} />
      <div>
        <p className="state__title">{title}</p>
        <p className="state__text">{errorMessage(error)}</p>
      </div>
      {onRetry ? (
        <button type="button" className="btn btn--secondary btn--sm" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** An inline message for a form or an action; role="alert" so it is announced. */
export function FormError({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <div className="form-error" role="alert">
      <AlertIcon size={16} />
      <span>{errorMessage(error)}</span>
    </div>
  );
}

export function EmptyState({ icon, title, children, action }: {
  icon?: ReactNode;
  title: string;
  children?: ReactNode;
  action?: ReactNode;
}) {
  return (
    <div className="empty">
      {icon ? <div className="empty__icon">{icon}</div> : null}
      {/* Not a heading: "Flows" must stay the only heading that a search for "Flows" finds. */}
      <p className="empty__title">{title}</p>
      {children ? <div className="empty__text">{children}</div> : null}
      {action ? <div className="empty__action">{action}</div> : null}
    </div>
  );
}
