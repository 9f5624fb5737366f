/**
 * Node types from the server's catalog, searchable; drag one onto the canvas, or click it. In a
 * narrow window it is a drawer opened from the toolbar (`onClose` given): a click adds the node
 * and closes it, Escape closes it, and while an item is dragged it lets the canvas take the drop.
 */
import { useEffect, useMemo, useRef, useState, type DragEvent } from "react";
import { useEditor } from "./context";
import { PALETTE_MIME } from "./Canvas";
import { NodeIcon } from "./nodeIcons";
import type { NodeType } from "./types";

export function Palette({ onAdd, onClose }: { onAdd: (type: NodeType) => void; onClose?: () => void }) {
  const types = useEditor((s) => s.types);
  const readOnly = useEditor((s) => s.readOnly);
  const [query, setQuery] = useState("");
  const [dragging, setDragging] = useState(false);
  const search = useRef<HTMLInputElement>(null);
  const drawer = Boolean(onClose);

  useEffect(() => {
    if (!onClose) return;
    search.current?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") onClose();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  const groups = useMemo(() => {
    const term = query.trim().toLowerCase();
    const matching = Object.values(types).filter(
      (t) => !term || `${t.title} ${t.type} ${t.description} ${t.category}`.toLowerCase().includes(term),
    );
    const byCategory = new Map<string, NodeType[]>();
    for (const t of matching) byCategory.set(t.category, [...(byCategory.get(t.category) ?? []), t]);
    return [...byCategory.entries()];
  }, [types, query]);

  const onDragStart = (event: DragEvent, t: NodeType) => {
    event.dataTransfer.setData(PALETTE_MIME, `${t.type}@${t.version}`);
    event.dataTransfer.effectAllowed = "copy";
    // Later than dragstart: hiding the source in the same frame would cancel the drag.
    if (drawer) requestAnimationFrame(() => setDragging(true));
  };

  return (
    <aside
      className={`palette${drawer ? " palette--drawer" : ""}${dragging ? " palette--dragging" : ""}`}
      aria-label="Node palette"
      data-testid="palette"
    >
      {onClose ? (
        <div className="palette__head">
          <strong>Add a node</strong>
          <button type="button" className="btn btn--ghost btn--sm" onClick={onClose}>
            Close
          </button>
        </div>
      ) : null}
      <input
        ref={search}
        className="input palette__search"
        type="search"
        placeholder="Search nodes"
        aria-label="Search nodes"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
      />
      <div className="palette__list">
        {groups.length === 0 ? <p className="palette__empty">No node matches “{query}”.</p> : null}
        {groups.map(([category, items]) => (
          <section key={category}>
            <h3 className="palette__group">{category}</h3>
            {items.map((t) => (
              <button
                type="button"
                key={`${t.type}@${t.version}`}
                className="palette__item"
                draggable={!readOnly}
                disabled={readOnly}
                onDragStart={(e) => onDragStart(e, t)}
                onDragEnd={() => {
                  setDragging(false);
                  onClose?.();
                }}
                onClick={() => onAdd(t)}
                title={`${t.description}\nDrag onto the canvas, or click to add.`}
                data-testid={`palette-${t.type}`}
              >
                <span className={`fnode__icon fnode__icon--${t.category}`}>
                  <NodeIcon name={t.icon} size={14} />
                </span>
                <span className="palette__text">
                  <span className="palette__title">{t.title}</span>
                  <span className="palette__desc">{t.description}</span>
                </span>
              </button>
            ))}
          </section>
        ))}
      </div>
    </aside>
  );
}
