/** The public widget protocol (apps/widgets): what the session endpoint and the socket send. */
import type { components } from "../../src/api/schema";

type Schemas = components["schemas"];

/** What the widget socket sends, generated from apps/widgets/protocol.py (`make schema`). */
export type ServerEvent = Schemas["WidgetSocketMessage"];
export type WidgetError = Schemas["WidgetError"];
export type Citation = Schemas["PublicCitation"];

export interface WidgetConfig {
  title: string;
  greeting: string;
  suggestions: string[];
  primary_color: string;
  avatar_url: string;
  position: "left" | "right";
  theme: "light" | "dark";
  show_sources: boolean;
  collect_feedback: boolean;
  max_input_chars: number;
}

export interface HistoryItem {
  role: "user" | "assistant";
  text: string;
  run: string;
  status?: string;
  rating?: number | null;
  citations?: Citation[];
}

export interface SessionOk {
  token: string;
  expires_in: number;
  widget: WidgetConfig;
  visitor_known: boolean;
  history: HistoryItem[];
}

export class SessionError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function openSession(base: string, key: string, visitor: string | null): Promise<SessionOk> {
  let response: Response;
  try {
    // text/plain keeps this a "simple" request: no preflight round trip before the first paint.
    response = await fetch(`${base}/api/widget/v1/session/`, {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify(visitor ? { key, visitor } : { key }),
      credentials: "omit",
    });
  } catch {
    throw new SessionError("network", "Could not reach the chat service.");
  }
  const body = (await response.json().catch(() => ({}))) as Partial<SessionOk> & { code?: string; message?: string };
  if (!response.ok) throw new SessionError(body.code ?? "error", body.message ?? "The chat is unavailable.");
  return body as SessionOk;
}
