import { useEffect, useState } from "react";
import { copyText } from "../lib/clipboard";
import { CheckIcon, CopyIcon } from "./icons";

type CopyState = "idle" | "copied" | "failed";

export function CopyButton({ value, label = "Copy" }: { value: string; label?: string }) {
  const [state, setState] = useState<CopyState>("idle");

  useEffect(() => {
    if (state === "idle") return;
    const timer = setTimeout(() => setState("idle"), 2000);
    return () => clearTimeout(timer);
  }, [state]);

  return (
    <button
      type="button"
      className="btn btn--secondary btn--sm"
      onClick={async () => setState((await copyText(value)) ? "copied" : "failed")}
    >
      {state === "copied" ? <CheckIcon size={15} /> : <CopyIcon size={15} />}
      <span>{label}</span>
      <span className="sr-only" aria-live="polite">
        {state === "copied" ? "Copied to clipboard" : state === "failed" ? "Copy failed; select the text and copy it" : ""}
      </span>
    </button>
  );
}
