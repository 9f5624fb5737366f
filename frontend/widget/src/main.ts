/**
 * Trellis chat widget: <script src="https://trellis.example/widget.js" data-key="wpk_..." async>.
 * Renders a bubble and a chat panel inside a Shadow DOM (the host page's CSS cannot reach it),
 * streams answers over the widget socket and keeps the visitor in local storage.
 */

import { renderMarkdown } from "./markdown";
import {
  type Citation,
  type HistoryItem,
  openSession,
  type ServerEvent,
  SessionError,
  type WidgetConfig,
  type WidgetError,
} from "./protocol";
import { WidgetSocket } from "./socket";
import { css } from "./styles";

interface Message {
  role: "user" | "assistant" | "notice" | "error";
  text: string;
  run?: string;
  streaming?: boolean;
  citations?: Citation[];
  rating?: number | null;
  lastSeq: number;
  node?: HTMLElement;
}

const LIMIT_CODES: Record<string, string> = {
  rate_limited: "You're sending messages too quickly.",
  rate_limited_ip: "Too many messages from your network.",
  budget_exhausted: "This assistant has reached its daily limit.",
};

const ICON_CHAT =
  '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg>';

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Record<string, string> = {},
  children: (Node | string)[] = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

class ChatWidget {
  private readonly root: ShadowRoot;
  private readonly host: HTMLElement;
  private readonly storageKey: string;
  private config: WidgetConfig | null = null;
  private token: string | null = null;
  private tokenAt = 0;
  private ttl = 0;
  private visitor: string | null = null;
  private messages: Message[] = [];
  private socket: WidgetSocket | null = null;
  private panel!: HTMLElement;
  private log!: HTMLElement;
  private input!: HTMLTextAreaElement;
  private sendButton!: HTMLButtonElement;
  private bubble: HTMLButtonElement | null = null;
  private suggestions!: HTMLElement;
  private pendingText: string | null = null;
  private state: "loading" | "ready" | "not-allowed" | "unavailable" = "loading";

  constructor(
    private readonly base: string,
    private readonly key: string,
    private readonly page: boolean,
  ) {
    this.storageKey = `trellis-widget:${key}`;
    this.visitor = this.load();
    this.host = document.createElement("trellis-chat");
    if (page) this.host.setAttribute("data-mode", "page");
    this.root = this.host.attachShadow({ mode: "open" });
    document.body.appendChild(this.host);
  }

  private load(): string | null {
    try {
      const raw = localStorage.getItem(this.storageKey);
      return raw ? ((JSON.parse(raw) as { visitor?: string }).visitor ?? null) : null;
    } catch {
      return null;
    }
  }

  private save(): void {
    try {
      if (this.visitor) localStorage.setItem(this.storageKey, JSON.stringify({ visitor: this.visitor }));
    } catch {
      /* storage blocked: the conversation lasts for this page only */
    }
  }

  async start(): Promise<void> {
    this.render(null);
    try {
      const session = await openSession(this.base, this.key, this.visitor);
      this.config = session.widget;
      this.setToken(session.token, session.expires_in);
      if (!session.visitor_known) this.visitor = null;
      this.state = "ready";
      this.render(session.widget);
      this.restore(session.history);
    } catch (error) {
      const code = error instanceof SessionError ? error.code : "error";
      this.state = code === "origin_not_allowed" || code === "origin_required" ? "not-allowed" : "unavailable";
      this.render(null);
    }
  }

  private setToken(token: string, ttl?: number): void {
    this.token = token;
    this.tokenAt = Date.now();
    if (ttl) this.ttl = ttl;
  }

  private async freshToken(): Promise<string> {
    if (this.token && Date.now() - this.tokenAt < (this.ttl - 60) * 1000) return this.token;
    const session = await openSession(this.base, this.key, this.visitor);
    this.setToken(session.token, session.expires_in);
    return session.token;
  }

  // --- rendering -----------------------------------------------------------------------------

  private render(config: WidgetConfig | null): void {
    const color = config?.primary_color ?? "#4f46e5";
    const dark = config?.theme === "dark";
    this.root.replaceChildren();
    const text = css(color, dark, config?.position === "left");
    if ("adoptedStyleSheets" in this.root && "replaceSync" in CSSStyleSheet.prototype) {
      // A constructed sheet is not an inline <style>, so a strict host-page CSP still lets it in.
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(text);
      this.root.adoptedStyleSheets = [sheet];
    } else {
      const style = h("style");
      style.textContent = text;
      this.root.append(style);
    }
    this.host.setAttribute("data-state", this.state);

    const title = config?.title || "Chat";
    const header = h("header");
    if (config?.avatar_url?.startsWith("https://")) header.append(h("img", { src: config.avatar_url, alt: "" }));
    header.append(h("h2", { id: "trellis-title" }, [title]));
    if (!this.page) {
      const close = h("button", { type: "button", "aria-label": "Close chat" }, ["×"]);
      close.addEventListener("click", () => this.toggle(false));
      header.append(close);
    }
    const panel = h("div", { class: "panel", role: "dialog", "aria-labelledby": "trellis-title" });
    if (!this.page) panel.hidden = !this.isOpen();
    panel.append(header);
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.page) this.toggle(false);
    });
    this.panel = panel;

    if (this.state !== "ready") {
      const [head, text] =
        this.state === "not-allowed"
          ? ["This chat is not allowed here.", "The site owner has not enabled this chat for this website."]
          : this.state === "loading"
            ? ["Loading…", ""]
            : ["The chat is unavailable.", "Please try again later."];
      panel.append(h("div", { class: "state", role: "status" }, [h("div", {}, [h("strong", {}, [head]), text])]));
    } else {
      this.log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
      this.suggestions = h("div", { class: "suggestions" });
      const form = h("form");
      this.input = h("textarea", {
        rows: "1",
        "aria-label": "Your message",
        placeholder: "Type your question…",
        maxlength: String(config?.max_input_chars ?? 2000),
      });
      this.sendButton = h("button", { type: "submit", "aria-label": "Send" }, ["Send"]);
      form.append(this.input, this.sendButton);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.submit(this.input.value);
      });
      this.input.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey) {
          event.preventDefault();
          this.submit(this.input.value);
        }
      });
      panel.append(this.log, this.suggestions, form);
    }
    this.root.append(panel);

    if (!this.page) {
      const bubble = h("button", {
        class: "bubble",
        type: "button",
        "aria-label": this.isOpen() ? "Close chat" : "Open chat",
        "aria-expanded": String(this.isOpen()),
      });
      bubble.innerHTML = ICON_CHAT; // a constant icon, never data
      bubble.addEventListener("click", () => this.toggle(!this.isOpen()));
      this.bubble = bubble;
      this.root.append(bubble);
    }
    if (this.state === "ready") {
      for (const message of this.messages) this.paint(message);
      this.paintSuggestions();
    }
  }

  private isOpen(): boolean {
    return this.page || this.host.getAttribute("data-open") === "true";
  }

  private toggle(open: boolean): void {
    if (this.page) return;
    this.host.setAttribute("data-open", String(open));
    this.panel.hidden = !open;
    this.bubble?.setAttribute("aria-expanded", String(open));
    this.bubble?.setAttribute("aria-label", open ? "Close chat" : "Open chat");
    if (open) {
      this.input?.focus();
      this.scroll();
    } else this.bubble?.focus();
  }

  private paintSuggestions(): void {
    this.suggestions.replaceChildren();
    if (this.messages.some((m) => m.role === "user")) return;
    for (const text of this.config?.suggestions ?? []) {
      const chip = h("button", { type: "button" }, [text]);
      chip.addEventListener("click", () => this.submit(text));
      this.suggestions.append(chip);
    }
  }

  private paint(message: Message): void {
    const node = message.node ?? h("div", { class: `msg ${message.role}` });
    message.node = node;
    node.replaceChildren();
    if (message.role === "assistant") {
      node.append(renderMarkdown(message.text));
      node.classList.toggle("typing", Boolean(message.streaming));
      if (!message.streaming && message.citations?.length && this.config?.show_sources) {
        node.append(this.sources(message.citations));
      }
      if (!message.streaming && message.run && message.text && this.config?.collect_feedback) {
        node.append(this.feedback(message));
      }
    } else node.textContent = message.text; // the visitor's own text, never markup
    if (!node.isConnected) this.log.append(node);
    this.scroll();
  }

  private sources(citations: Citation[]): HTMLElement {
    const list = h("ol");
    for (const citation of citations) {
      const label = [citation.title || citation.document || "Source", citation.page ? `p. ${citation.page}` : ""]
        .filter(Boolean)
        .join(", ");
      const item = h("li", { value: String(citation.n ?? list.children.length + 1) }, [label]);
      if (citation.snippet) item.append(h("span", { class: "snippet" }, [citation.snippet]));
      list.append(item);
    }
    return h("details", { class: "sources", open: "" }, [h("summary", {}, [`Sources (${citations.length})`]), list]);
  }

  private feedback(message: Message): HTMLElement {
    const row = h("div", { class: "feedback" });
    for (const [rating, label, glyph] of [
      [1, "Good answer", "👍"],
      [-1, "Bad answer", "👎"],
    ] as const) {
      const button = h("button", { type: "button", "aria-label": label, "aria-pressed": String(message.rating === rating) }, [
        glyph,
      ]);
      button.addEventListener("click", () => {
        message.rating = rating;
        void this.rate(message, "");
        this.paint(message);
        const comment = h("input", { "aria-label": "Add a comment (optional)", placeholder: "Add a comment…", maxlength: "2000" });
        comment.addEventListener("keydown", (event) => {
          if (event.key === "Enter" && comment.value.trim()) {
            void this.rate(message, comment.value.trim());
            comment.replaceWith(h("span", {}, ["Thanks!"]));
          }
        });
        message.node?.querySelector(".feedback")?.append(comment);
        comment.focus();
      });
      row.append(button);
    }
    return row;
  }

  private async rate(message: Message, comment: string): Promise<void> {
    if (!message.run || message.rating == null) return;
    const token = await this.freshToken();
    this.ensureSocket().send({
      type: "chat.feedback",
      token,
      run: message.run,
      rating: message.rating > 0 ? "up" : "down",
      comment,
    });
  }

  private scroll(): void {
    if (this.log) this.log.scrollTop = this.log.scrollHeight;
  }

  private push(message: Message): Message {
    this.messages.push(message);
    if (this.state === "ready") this.paint(message);
    return message;
  }

  private restore(history: HistoryItem[]): void {
    if (this.config?.greeting) this.push({ role: "assistant", text: this.config.greeting, lastSeq: 0 });
    for (const item of history) {
      const message = this.push({
        role: item.role,
        text: item.text,
        run: item.run || undefined,
        citations: item.citations,
        rating: item.rating ?? null,
        lastSeq: 0,
        streaming: item.status === "running",
      });
      if (message.streaming && message.run) {
        void this.freshToken().then((token) =>
          this.ensureSocket().send({ type: "chat.resume", token, run: message.run, after: 0 }),
        );
      }
    }
    this.paintSuggestions();
  }

  // --- chatting ------------------------------------------------------------------------------

  private ensureSocket(): WidgetSocket {
    if (this.socket === null) {
      const url = `${this.base.replace(/^http/, "ws")}/ws/widget/${encodeURIComponent(this.key)}/`;
      this.socket = new WidgetSocket(
        url,
        (event) => this.onEvent(event),
        (reconnected) => {
          if (reconnected) void this.resumeStreaming();
        },
        (fatal) => {
          if (fatal) {
            this.state = "not-allowed";
            this.render(this.config);
          }
        },
      );
      addEventListener("online", () => this.socket?.retryNow());
    }
    this.socket.connect();
    return this.socket;
  }

  private async resumeStreaming(): Promise<void> {
    for (const message of this.messages) {
      if (message.streaming && message.run) {
        const token = await this.freshToken();
        this.socket?.send({ type: "chat.resume", token, run: message.run, after: message.lastSeq });
      }
    }
  }

  private busy(): boolean {
    return this.pendingText !== null || this.messages.some((m) => m.streaming);
  }

  private async submit(raw: string): Promise<void> {
    const text = raw.trim();
    if (!text || this.busy()) return;
    this.input.value = "";
    this.pendingText = text;
    this.push({ role: "user", text, lastSeq: 0 });
    this.paintSuggestions();
    this.push({ role: "assistant", text: "", streaming: true, lastSeq: 0 });
    try {
      const token = await this.freshToken();
      this.ensureSocket().send({ type: "chat.send", token, message: text, ref: "send" });
    } catch {
      this.fail("The chat service could not be reached. Please try again.");
    }
  }

  private current(run?: string): Message | undefined {
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const message = this.messages[i];
      if (message?.role === "assistant" && (run ? message.run === run : message.streaming)) return message;
    }
    return undefined;
  }

  private fail(text: string, role: "error" | "notice" = "error"): void {
    const pending = this.current();
    if (pending && !pending.run) {
      this.messages.splice(this.messages.indexOf(pending), 1);
      pending.node?.remove();
    }
    this.pendingText = null;
    this.push({ role, text, lastSeq: 0 });
  }

  private onEvent(event: ServerEvent): void {
    if (event.type === "chat.accepted") {
      this.pendingText = null;
      if (event.token) this.setToken(event.token);
      if (event.visitor) {
        this.visitor = event.visitor;
        this.save();
      }
      const pending = this.current();
      if (pending && event.run) pending.run = event.run;
      return;
    }
    if (event.type === "error") {
      this.onError(event);
      return;
    }
    if (event.type === "pong" || event.type === "feedback.saved") return;
    const message = this.current(event.run);
    if (!message || event.seq <= message.lastSeq) return; // a replayed duplicate
    message.lastSeq = event.seq;
    if (event.type === "token") {
      message.text += event.data.text;
      this.schedulePaint(message);
    } else if (event.type === "run.finished") {
      message.streaming = false;
      if (event.data.answer) message.text = event.data.answer;
      message.citations = event.data.citations ?? [];
      this.paint(message);
    } else if (event.type === "run.failed" || event.type === "run.cancelled") {
      message.streaming = false;
      const said = event.type === "run.failed" ? event.data.message : "";
      if (!message.text) message.text = said || "Sorry, the assistant could not answer just now.";
      this.paint(message);
    }
  }

  private onError(event: WidgetError): void {
    const code = event.code;
    if ((code === "session_expired" || code === "session_invalid") && this.pendingText !== null) {
      const text = this.pendingText;
      this.token = null;
      void this.freshToken().then((token) => this.socket?.send({ type: "chat.send", token, message: text }));
      return;
    }
    if (code === "origin_not_allowed") {
      this.state = "not-allowed";
      this.render(this.config);
      return;
    }
    if (code in LIMIT_CODES) {
      const wait = event.retry_after ? ` Try again in ${event.retry_after} s.` : "";
      this.fail(`${LIMIT_CODES[code]}${wait}`, "notice");
      return;
    }
    if (this.pendingText !== null) this.fail(event.message || "Something went wrong.");
  }

  private painting = new Set<Message>();

  private schedulePaint(message: Message): void {
    if (this.painting.has(message)) return;
    this.painting.add(message);
    requestAnimationFrame(() => {
      this.painting.delete(message);
      this.paint(message);
    });
  }
}

// Read while this script runs: document.currentScript is gone by DOMContentLoaded.
const SCRIPT =
  (document.currentScript as HTMLScriptElement | null) ??
  document.querySelector<HTMLScriptElement>("script[data-key][src*='widget.js']");

function boot(): void {
  const script = SCRIPT;
  const key = script?.dataset.key;
  if (!script || !key) return;
  const base = new URL(script.src, location.href).origin;
  const widget = new ChatWidget(base, key, script.dataset.mode === "page");
  void widget.start();
}

if (document.body) boot();
else addEventListener("DOMContentLoaded", boot, { once: true });
