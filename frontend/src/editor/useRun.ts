/**
 * The playground's live run over the WebSocket: run.start / run.cancel out, engine events in.
 * Node states go to the canvas store; the transcript stays in this hook. A run in progress is
 * remembered in sessionStorage: after a reload the playground asks `run.resume {run, after: 0}`
 * and rebuilds the answer from the replayed events; after a dropped socket it resumes from the
 * last sequence number it saw.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { ReconnectingSocket, socketUrl, type ServerMessage, type SocketStatus } from "../lib/socket";
import { citationsOf, type Citation } from "../ui/Markdown";
import type { RunFailedData, RunSocketMessage } from "../api/types";
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
  citations?: Citation[];
}

/** What a reload needs to pick a run up again (per flow, per tab). */
interface PendingRun {
  run: string;
  message: string;
  session: string | null;
}

const pendingKey = (flowId: string) => `trellis.playground.${flowId}`;

function readPending(flowId: string): PendingRun | null {
  try {
    const raw = typeof sessionStorage === "undefined" ? null : sessionStorage.getItem(pendingKey(flowId));
    const parsed = raw ? (JSON.parse(raw) as Partial<PendingRun>) : null;
    return parsed && typeof parsed.run === "string" && typeof parsed.message === "string"
      ? { run: parsed.run, message: parsed.message, session: typeof parsed.session === "string" ? parsed.session : null }
      : null;
  } catch {
    return null;
  }
}

function writePending(flowId: string, pending: PendingRun | null): void {
  try {
    if (pending) sessionStorage.setItem(pendingKey(flowId), JSON.stringify(pending));
    else sessionStorage.removeItem(pendingKey(flowId));
  } catch {
    // storage full or disabled: a reload then loses the run, as before
  }
}

export function useRun(orgId: string, flowId: string) {
  const store = useEditorStoreApi();
  const socket = useRef<ReconnectingSocket | null>(null);
  const [status, setStatus] = useState<SocketStatus>("closed");
  // A run left running by a reload comes back as its question and an answer that resumes.
  const [restored] = useState(() => readPending(flowId));
  const [turns, setTurns] = useState<ChatTurn[]>(() =>
    restored
      ? [
          { role: "user", text: restored.message },
          { role: "assistant", text: "", status: "running", runId: restored.run },
        ]
      : [],
  );
  const [runId, setRunId] = useState<string | null>(restored?.run ?? null);
  const [busy, setBusy] = useState(Boolean(restored));
  const session = useRef<string | null>(restored?.session ?? null);
  const ref = useRef(0);
  // The run this tab follows and the last sequence number seen of it (resume from there).
  const live = useRef<{ run: string | null; seq: number; message: string }>({
    run: restored?.run ?? null,
    seq: 0,
    message: restored?.message ?? "",
  });

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
    (raw: ServerMessage) => {
      // The socket's messages as the server publishes them (apps/runs/protocol.py, `make schema`).
      const message = raw as unknown as RunSocketMessage;
      if (message.type === "pong") return;
      if (message.type === "error") {
        const issues = (message.issues ?? []) as Issue[];
        if (issues.length) store.getState().setIssues(issues);
        setTurns((all) => [
          ...all.filter((t) => !(t.role === "assistant" && !t.text && !t.runId)),
          { role: "error", text: `${message.message || "The run was refused."}${issues.length ? " See Problems." : ""}` },
        ]);
        setBusy(false);
        return;
      }
      const editor = store.getState();
      // A loop body's node runs once per item (`summarize[3]`): its canvas node shows the latest.
      const node = message.node ? message.node.replace(/\[\d+\]/g, "") : null;
      const seq = message.seq;
      if (message.run === live.current.run) {
        if (seq <= live.current.seq) return; // already shown (a resume overlapping the live stream)
        live.current.seq = seq;
      }
      switch (message.type) {
        case "run.started":
          if (live.current.run !== message.run) {
            live.current = { run: message.run, seq, message: live.current.message };
          }
          writePending(flowId, { run: message.run, message: live.current.message, session: session.current });
          setRunId(message.run);
          updateLast((t) => ({ ...t, runId: message.run }));
          break;
        case "node.started":
          if (node) editor.setNodeRun(node, { status: "running", inputs: message.data.inputs, text: "" });
          break;
        case "token": {
          const text = message.data.text;
          if (node) editor.setNodeRun(node, { text: (editor.runs[node]?.text ?? "") + text });
          updateLast((t) => ({ ...t, text: t.text + text }));
          break;
        }
        case "node.finished": {
          if (!node) break;
          const usage = message.data.usage;
          editor.setNodeRun(node, {
            status: "done",
            outputs: message.data.outputs,
            latencyMs: message.data.latency_ms,
            tokens: usage ? { input: usage.input_tokens ?? 0, output: usage.output_tokens ?? 0 } : undefined,
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
              latencyMs: message.data.latency_ms ?? undefined,
              error: { code: message.data.code, message: message.data.message },
            });
          }
          break;
        case "run.finished": {
          rememberSession(message.run);
          writePending(flowId, null);
          const data = message.data;
          const outputs = data.outputs as Record<string, { value?: unknown }>;
          const first = Object.values(outputs)[0];
          updateLast((t) => ({
            ...t,
            status: "finished",
            text: t.text || (first ? String(typeof first.value === "string" ? first.value : JSON.stringify(first.value)) : ""),
            meta: {
              latencyMs: data.latency_ms ?? undefined,
              ttftMs: data.ttft_ms ?? null,
              tokens: data.usage?.output_tokens,
            },
            citations: citationsOf(outputs),
          }));
          setBusy(false);
          break;
        }
        case "run.failed": {
          rememberSession(message.run);
          writePending(flowId, null);
          const data = message.data;
          const failed = data.node ?? null;
          updateLast((t) => ({
            ...t,
            status: "failed",
            failedNode: failed,
            text: t.text,
            meta: { latencyMs: data.latency_ms ?? undefined },
          }));
          setTurns((all) => [...all, { role: "error", text: describeFailure(data), failedNode: failed }]);
          if (failed) editor.focusNode(failed);
          setBusy(false);
          break;
        }
        case "run.cancelled":
          writePending(flowId, null);
          updateLast((t) => ({ ...t, status: "cancelled" }));
          setBusy(false);
          break;
        default:
          break;
      }
    },
    [store, updateLast, rememberSession, flowId],
  );

  // Each (re)connection picks up the run in progress: from the last event seen, or from the
  // start after a reload (the transcript is rebuilt from the replayed events).
  const onStatus = useCallback((next: SocketStatus) => {
    setStatus(next);
    if (next === "connected" && live.current.run && readPending(flowId)?.run === live.current.run) {
      socket.current?.send({ type: "run.resume", run: live.current.run, after: live.current.seq });
    }
  }, [flowId]);

  useEffect(() => {
    if (typeof WebSocket === "undefined") return undefined;
    const s = new ReconnectingSocket({ url: socketUrl(window.location), onStatus, onMessage });
    socket.current = s;
    s.start();
    return () => {
      s.stop();
      socket.current = null;
    };
  }, [onMessage, onStatus]);

  const start = useCallback(
    (message: string, version: string) => {
      store.getState().resetRuns();
      ref.current += 1;
      live.current = { run: null, seq: 0, message };
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
    writePending(flowId, null);
    live.current = { run: null, seq: 0, message: "" };
    session.current = null;
    setTurns([]);
    setRunId(null);
    store.getState().resetRuns();
  }, [store, flowId]);

  return { status, turns, runId, busy, start, cancel, reset };
}

export function describeFailure(data: Pick<RunFailedData, "code" | "message" | "node">): string {
  const where = data.node ? ` in ${data.node}` : "";
  return `Failed${where}: ${data.message || "The run failed."}${data.code ? ` (${data.code})` : ""}`;
}
