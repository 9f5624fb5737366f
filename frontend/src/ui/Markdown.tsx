/** Model output as Markdown, through the widget's renderer (frontend/widget/src/markdown.ts): one
 *  renderer for the widget, the playground and the runs page. It builds DOM nodes and text nodes
 *  and never parses HTML, so output can't inject markup; links keep only http(s) and mailto. */
import { useLayoutEffect, useRef } from "react";
import { renderMarkdown } from "../../widget/src/markdown";

export interface Citation {
  n?: number;
  title?: string;
  document?: string;
  page?: string | number;
  snippet?: string;
}

export function Markdown({ text, className = "markdown" }: { text: string; className?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    ref.current?.replaceChildren(renderMarkdown(text, document));
  }, [text]);
  return <div ref={ref} className={className} />;
}

/** The sources an answer cites, numbered as the answer's [n] marks. */
export function Citations({ citations }: { citations: Citation[] }) {
  if (!citations.length) return null;
  return (
    <details className="citations" open>
      <summary>Sources ({citations.length})</summary>
      <ol>
        {citations.map((c, index) => (
          <li key={`${c.n ?? index}-${c.document ?? ""}`} value={c.n ?? index + 1}>
            <span className="citations__title">
              {c.title || c.document || "Source"}
              {c.page ? `, p. ${c.page}` : ""}
            </span>
            {c.snippet ? <span className="citations__snippet">{c.snippet}</span> : null}
          </li>
        ))}
      </ol>
    </details>
  );
}

/** The citations a run's outputs carry (each output's `citations`), as the server reads them. */
export function citationsOf(outputs: unknown): Citation[] {
  const found: Citation[] = [];
  if (outputs && typeof outputs === "object") {
    for (const value of Object.values(outputs as Record<string, unknown>)) {
      const list = value && typeof value === "object" ? (value as { citations?: unknown }).citations : undefined;
      if (Array.isArray(list)) found.push(...list.filter((c): c is Citation => Boolean(c) && typeof c === "object"));
    }
  }
  return found;
}
