/** The public widget protocol (apps/widgets): what the session endpoint and the socket send. */

export interface Citation {
  n?: number;
  title?: string;
  page?: string;
  snippet?: string;
  document?: string;
}

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

export interface ServerEvent {
  type: string;
  run?: string;
  seq?: number;
  ref?: string | null;
  code?: string;
  message?: string;
  retry_after?: number;
  token?: string;
  visitor?: string;
  conversation?: string;
  data?: { text?: string; answer?: string | null; citations?: Citation[]; code?: string; message?: string };
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
