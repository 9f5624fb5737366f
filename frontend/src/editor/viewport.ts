/**
 * How the canvas is framed for people: fitting never zooms out so far that labels cannot be read
 * (MIN_FIT_ZOOM; a large flow is then fitted around its start and panned), and below COMPACT_ZOOM
 * nodes switch to a compact view (big title, no port names). NARROW is the width at which the
 * palette becomes a drawer opened from the toolbar.
 */
import { useSyncExternalStore } from "react";

/** Node text is 11-13 px; at 0.5 it is still ~6 px, so the compact view takes over from 0.7. */
export const MIN_FIT_ZOOM = 0.5;
export const COMPACT_ZOOM = 0.7;
export const FIT_VIEW = { padding: 0.2, maxZoom: 1, minZoom: MIN_FIT_ZOOM } as const;
export const NARROW_QUERY = "(max-width: 820px)";

function subscribe(onChange: () => void): () => void {
  if (typeof window.matchMedia !== "function") return () => undefined;
  const query = window.matchMedia(NARROW_QUERY);
  query.addEventListener("change", onChange);
  return () => query.removeEventListener("change", onChange);
}

const narrowNow = () => typeof window.matchMedia === "function" && window.matchMedia(NARROW_QUERY).matches;

/** Whether the editor is laid out for a narrow window (the palette as a drawer). */
export function useNarrow(): boolean {
  return useSyncExternalStore(subscribe, narrowNow, () => false);
}
