/** Marks the words of `text` that start with one of the query's stems (what full text matched). */
import type { ReactNode } from "react";

export function highlight(text: string, terms: string[]): ReactNode[] {
  const stems = terms.map((t) => t.toLowerCase()).filter((t) => t.length > 1);
  if (!stems.length) return [text];
  return text.split(/(\p{L}[\p{L}\p{N}'-]*)/u).map((part, i) =>
    stems.some((stem) => part.toLowerCase().startsWith(stem)) ? <mark key={i}>{part}</mark> : part,
  );
}
