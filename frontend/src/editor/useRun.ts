/**
 * The playground's live run over the WebSocket: run.start / run.cancel out, engine events in.
 * Node states go to the canvas store; the transcript stays in this hook.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { ReconnectingSocket, socketUrl, type ServerMessage, type SocketStatus } from "../lib/socket";
import { fetchRun } from "./api";
import { useEditorStoreApi } from "./context";
import type { Issue } from "./types";

export interface ChatTurn {
  role: "user" | "assistant" | "error";
  text: string;
  runId?: string;
  status?: "running" | "finished" | "failed" | "cancelled";
  failedNode?: string | null;
  meta?: { latencyMs?: number; ttftMs?: number | null; tokens?: number };
}

type Data = Record<string, unknown>;

const num = (value: unknown): number | undefined => (typeof value === "number" ? value : undefined);

export function useRun(orgId: string, flowId: string) {
  const store = useEditorStoreApi();
  const socket = useRef<ReconnectingSocket | null>(null);
  const [status, setStatus] = useState<SocketStatus>("closed");
  const [turns, setTurns] = useState<ChatTurn[]>([]);
  const [runId, setRunId] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const session = useRef<string | null>(null);
  const ref = useRef(0);

  const updateLast = useCallback((update: (turn: ChatTurn) => ChatTurn) => {
    setTurns((all) => {
      const last = all[all.length - 1];
      if (!last || last.role !== "assistant") return all;
      return [...all.slice(0, -1), update(last)];
    });
  }, []);

  // The server opens the chat session on the first run; later turns continue it (memory).
  const rememberSession = useCallback(
    (run: string) => {
      if (session.current) return;
      fetchRun(orgId, run).then(
        (detail) => {
          session.current ??= detail.session ?? null;
        },
        () => undefined,
      );
    },
    [orgId],
  );

  const onMessage = useCallback(
    (message: ServerMessage) => {
      const editor = store.getState();
      const data = (message.data ?? {}) as Data;
      const node = typeof message.node === "string" ? message.node : null;
      switch (message.type) {
        case "run.started":
          setRunId(String(message.run));
          updateLast((t) => ({ ...t, runId: String(message.run) }));
          break;
        case "node.started":
          if (node) editor.setNodeRun(node, { status: "running", inputs: data.inputs, text: "" });
          break;
        case "token":
          if (node) editor.setNodeRun(node, { text: (editor.runs[node]?.text ?? "") + String(data.text ?? "") });
          updateLast((t) => ({ ...t, text: t.text + String(data.text ?? "") }));
          break;
        case "node.finished": {
          if (!node) break;
          const usage = (data.usage ?? null) as Data | null;
          editor.setNodeRun(node, {
            status: "done",
            outputs: data.outputs,
            latencyMs: num(data.latency_ms),
            tokens: usage ? { input: num(usage.input_tokens) ?? 0, output: num(usage.output_tokens) ?? 0 } : undefined,
          });
          break;
        }
        case "node.skipped":
          if (node) editor.setNodeRun(node, { status: "skipped" });
          break;
        case "node.failed":
          if (node) {
            editor.setNodeRun(node, {
              status: "failed",
              latencyMs: num(data.latency_ms),
              error: { code: String(data.code ?? "failed"), message: String(data.message ?? "") },
            });
          }
          break;
        case "run.finished": {
          rememberSession(String(message.run));
          const usage = (data.usage ?? {}) as Data;
          const outputs = (data.outputs ?? {}) as Record<string, { value?: unknown }>;
          const first = Object.values(outputs)[0];
          updateLast((t) => ({
            ...t,
            status: "finished",
            text: t.text || (first ? String(typeof first.value === "string" ? first.value : JSON.stringify(first.value)) : ""),
            meta: { latencyMs: num(data.latency_ms), ttftMs: num(data.ttft_ms) ?? null, tokens: num(usage.output_tokens) },
          }));
          setBusy(false);
          break;
        }
        case "run.failed": {
          rememberSession(String(message.run));
          const failed = typeof data.node === "string" ? data.node : null;
          updateLast((t) => ({
            ...t,
            status: "failed",
            failedNode: failed,
            text: t.text,
            meta: { latencyMs: num(data.latency_ms) },
          }));
          setTurns((all) => [...all, { role: "error", text: describeFailure(data), failedNode: failed }]);
          if (failed) editor.focusNode(failed);
          setBusy(false);
          break;
        }
        case "run.cancelled":
          updateLast((t) => ({ ...t, status: "cancelled" }));
          setBusy(false);
          break;
        case "error": {
          const issues = (message.issues ?? []) as Issue[];
          if (issues.length) editor.setIssues(issues);
          setTurns((all) => [
            ...all.filter((t) => !(t.role === "assistant" && !t.text && !t.runId)),
            { role: "error", text: `${String(message.message ?? "The run was refused.")}${issues.length ? " See Problems." : ""}` },
          ]);
          setBusy(false);
          break;
        }
        default:
          break;
      }
    },
    [store, updateLast, rememberSession],
  );

  useEffect(() => {
    if (typeof WebSocket === "undefined") return undefined;
    const s = new ReconnectingSocket({ url: socketUrl(window.location), onStatus: setStatus, onMessage });
    socket.current = s;
    s.start();
    return () => {
      s.stop();
      socket.current = null;
    };
  }, [onMessage]);

  const start = useCallback(
    (message: string, version: string) => {
      store.getState().resetRuns();
      ref.current += 1;
      const sent = socket.current?.send({
        type: "run.start",
        flow: flowId,
        version: /^\d+$/.test(version) ? Number(version) : version,
        inputs: { message },
        ...(session.current ? { session: session.current } : {}),
        ref: `play-${ref.current}`,
      });
      setTurns((all) => [
        ...all,
        { role: "user", text: message },
        sent
          ? { role: "assistant", text: "", status: "running" }
          : { role: "error", text: "Not connected to the server; try again in a moment." },
      ]);
      setBusy(Boolean(sent));
    },
    [flowId, store],
  );

  const cancel = useCallback(() => {
    if (runId) socket.current?.send({ type: "run.cancel", run: runId });
  }, [runId]);

  const reset = useCallback(() => {
    session.current = null;
    setTurns([]);
    setRunId(null);
    store.getState().resetRuns();
  }, [store]);

  return { status, turns, runId, busy, start, cancel, reset };
}

export function describeFailure(data: Record<string, unknown>): string {
  const where = typeof data.node === "string" ? ` in ${data.node}` : "";
  const message = typeof data.message === "string" && data.message ? data.message : "The run failed.";
  return `Failed${where}: ${message}${typeof data.code === "string" ? ` (${data.code})` : ""}`;
}
