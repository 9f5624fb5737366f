/**
 * Autosave: the draft is saved a moment after each change, with the revision it started from.
 * A 409 (someone else saved) puts the editor in "conflict" and stops saving: the user decides.
 */
import { useCallback, useEffect, useRef } from "react";
import { isApiError, errorMessage } from "../lib/errors";
import { saveDraft } from "./api";
import { useEditor, useEditorStoreApi } from "./context";

const DEBOUNCE_MS = 700;

export function useAutosave(orgId: string, flowId: string): { saveNow: () => Promise<boolean> } {
  const store = useEditorStoreApi();
  const changeCount = useEditor((s) => s.changeCount);
  const inFlight = useRef<Promise<boolean> | null>(null);

  const save = useCallback(async (): Promise<boolean> => {
    const state = store.getState();
    if (state.readOnly || state.saveState === "conflict") return state.saveState !== "conflict";
    if (inFlight.current) {
      await inFlight.current;
      return save();
    }
    const savedCount = state.changeCount;
    if (state.saveState === "saved") return true;
    store.getState().setSaveState("saving");
    const run = (async () => {
      try {
        const result = await saveDraft(orgId, flowId, store.getState().spec(), state.revision);
        const now = store.getState();
        now.markSaved(result.revision, result.issues);
        now.setSaveState(now.changeCount === savedCount ? "saved" : "dirty");
        return true;
      } catch (error) {
        if (isApiError(error, "stale_draft")) store.getState().setSaveState("conflict", "The draft was changed elsewhere.");
        else store.getState().setSaveState("error", errorMessage(error));
        return false;
      } finally {
        inFlight.current = null;
      }
    })();
    inFlight.current = run;
    const ok = await run;
    // Changes made while saving go out next.
    if (ok && store.getState().saveState === "dirty") return save();
    return ok;
  }, [store, orgId, flowId]);

  useEffect(() => {
    if (changeCount === 0) return undefined;
    const timer = setTimeout(() => void save(), DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [changeCount, save]);

  useEffect(() => {
    const warn = (event: BeforeUnloadEvent) => {
      const state = store.getState().saveState;
      if (state === "dirty" || state === "saving") event.preventDefault();
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [store]);

  return { saveNow: save };
}
