/** Keeps the ports of config-dependent node types (prompt variables, branch routes) current. */
import { useEffect, useRef } from "react";
import { resolvePorts } from "./api";
import { useEditor, useEditorStoreApi } from "./context";
import { catalogKey } from "./graph";

const DEBOUNCE_MS = 200;

export function usePortResolver(): void {
  const store = useEditorStoreApi();
  const nodes = useEditor((s) => s.nodes);
  const types = useEditor((s) => s.types);
  const sent = useRef(new Map<string, string>());

  useEffect(() => {
    const pending = nodes.filter((node) => {
      const type = types[catalogKey(node.data.type, node.data.version)];
      if (!type || !(type.dynamic_inputs || type.dynamic_outputs)) return false;
      const key = JSON.stringify([node.data.type, node.data.version, node.data.config]);
      return sent.current.get(node.id) !== key;
    });
    if (!pending.length) return undefined;
    const timer = setTimeout(() => {
      const body = pending.map((n) => ({ id: n.id, type: n.data.type, version: n.data.version, config: n.data.config }));
      for (const n of pending) sent.current.set(n.id, JSON.stringify([n.data.type, n.data.version, n.data.config]));
      resolvePorts(body)
        .then((result) => store.getState().setPorts(result.ports))
        .catch(() => {
          for (const n of pending) sent.current.delete(n.id);
        });
    }, sent.current.size ? DEBOUNCE_MS : 0);
    return () => clearTimeout(timer);
  }, [nodes, types, store]);
}
