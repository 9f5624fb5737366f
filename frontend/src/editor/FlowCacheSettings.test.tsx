/** The flow's response-cache default: edited in the Flow tab, carried in the saved spec, read back on load. */
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { EditorStoreContext } from "./context";
import { FlowCacheSettings } from "./FlowCacheSettings";
import { createEditorStore } from "./store";

function renderWith(store: ReturnType<typeof createEditorStore>) {
  return render(
    <EditorStoreContext.Provider value={store}>
      <FlowCacheSettings />
    </EditorStoreContext.Provider>,
  );
}

describe("the flow's response cache", () => {
  it("puts the chosen mode, TTL and threshold in the spec, and nothing when left to the model", async () => {
    const user = userEvent.setup();
    const store = createEditorStore();
    store.getState().load({ nodes: [], edges: [] }, 1, []);
    renderWith(store);
    expect(store.getState().spec().settings).toBeUndefined();
    expect(screen.queryByLabelText(/Keep answers for/)).not.toBeInTheDocument();

    await user.selectOptions(screen.getByLabelText("Default for LLM nodes"), "semantic");
    await user.type(screen.getByLabelText(/Keep answers for/), "600");
    await user.type(screen.getByLabelText(/Similarity needed/), "0.4");
    expect(screen.getByText("Between 0.5 and 1.")).toBeInTheDocument();
    await user.clear(screen.getByLabelText(/Similarity needed/));
    await user.type(screen.getByLabelText(/Similarity needed/), "0.92");
    await user.click(screen.getByLabelText(/temperature above 0/));
    expect(store.getState().spec().settings).toEqual({
      cache: { mode: "semantic", ttl_s: 600, threshold: 0.92, any_temperature: true },
    });
    expect(store.getState().saveState).toBe("dirty");

    await user.selectOptions(screen.getByLabelText("Default for LLM nodes"), "");
    expect(store.getState().spec().settings).toBeUndefined();
  });

  it("shows a loaded flow's setting, read-only for a viewer", () => {
    const store = createEditorStore();
    store.getState().load({ nodes: [], edges: [], settings: { cache: { mode: "exact", ttl_s: 120 } } }, 3, []);
    store.getState().setReadOnly(true);
    renderWith(store);
    expect(screen.getByLabelText("Default for LLM nodes")).toHaveValue("exact");
    expect(screen.getByLabelText("Default for LLM nodes")).toBeDisabled();
    expect(screen.getByLabelText(/Keep answers for/)).toHaveValue(120);
    expect(screen.queryByLabelText(/Similarity needed/)).not.toBeInTheDocument();
  });
});
