/**
 * A modal dialog: role="dialog" + aria-modal, labelled by its title, Escape and the backdrop
 * close it, focus moves in on open and back to the opener on close, Tab stays inside.
 */
import { useEffect, useId, useRef, type KeyboardEvent, type ReactNode } from "react";
import { createPortal } from "react-dom";
import { CloseIcon } from "./icons";

interface DialogProps {
  title: string;
  description?: ReactNode;
  onClose: () => void;
  children: ReactNode;
  /** Block closing while a request is in flight. */
  dismissable?: boolean;
  size?: "sm" | "md";
}

let openDialogs = 0;

/** While a dialog is open the app behind it is inert and hidden from assistive tech (and
 *  from role queries), so "Create" in the dialog is the only "Create" there is. */
function hideAppBehindModal(): () => void {
  const app = document.getElementById("root");
  if (!app) return () => undefined;
  openDialogs += 1;
  app.setAttribute("aria-hidden", "true");
  app.setAttribute("inert", "");
  return () => {
    openDialogs -= 1;
    if (openDialogs === 0) {
      app.removeAttribute("aria-hidden");
      app.removeAttribute("inert");
    }
  };
}

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export function Dialog({ title, description, onClose, children, dismissable = true, size = "sm" }: DialogProps) {
  const titleId = useId();
  const descriptionId = useId();
  const panel = useRef<HTMLDivElement>(null);
  const closeRef = useRef(onClose);
  const dismissableRef = useRef(dismissable);
  closeRef.current = onClose;
  dismissableRef.current = dismissable;

  useEffect(() => hideAppBehindModal(), []);

  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    const node = panel.current;
    const first =
      node?.querySelector<HTMLElement>("[data-autofocus]") ??
      node?.querySelector<HTMLElement>("input, select, textarea") ??
      node?.querySelector<HTMLElement>(FOCUSABLE);
    (first ?? node)?.focus();
    return () => opener?.focus?.();
  }, []);

  function onKeyDown(event: KeyboardEvent<HTMLDivElement>) {
    if (event.key === "Escape") {
      event.stopPropagation();
      if (dismissableRef.current) closeRef.current();
      return;
    }
    if (event.key !== "Tab" || !panel.current) return;
    const items = Array.from(panel.current.querySelectorAll<HTMLElement>(FOCUSABLE));
    const first = items[0];
    const last = items[items.length - 1];
    if (!first || !last) return;
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  }

  return createPortal(
    <div
      className="dialog-backdrop"
      onMouseDown={(event) => {
        if (event.target === event.currentTarget && dismissableRef.current) closeRef.current();
      }}
    >
      <div
        ref={panel}
        className={`dialog dialog--${size}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={description ? descriptionId : undefined}
        tabIndex={-1}
        onKeyDown={onKeyDown}
      >
        <header className="dialog__header">
          <h2 id={titleId} className="dialog__title">
            {title}
          </h2>
          <button
            type="button"
            className="icon-button"
            aria-label="Close"
            onClick={() => closeRef.current()}
            disabled={!dismissable}
          >
            <CloseIcon />
          </button>
        </header>
        {description ? (
          <p id={descriptionId} className="dialog__description">
            {description}
          </p>
        ) : null}
        {children}
      </div>
    </div>,
    document.body,
  );
}
