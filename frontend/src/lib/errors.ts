/**
 * The backend's error contract: `{"code", "message", "fields"?}` with a 4xx/5xx status.
 * Anything else (a proxy's HTML page, a network failure) becomes the same shape here, so
 * the UI has exactly one kind of error to show.
 */

export type FieldErrors = Record<string, string[]>;

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldErrors;

  constructor(status: number, code: string, message: string, fields: FieldErrors = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields;
  }

  /** Messages for one form field; `non_field_errors` and unknown fields go to the form. */
  fieldErrors(name: string): string[] {
    return this.fields[name] ?? [];
  }
}

export const NETWORK_ERROR_CODE = "network_error";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Flattens `{"a": ["x"], "b": {"c": ["y"]}}` into `{"a": ["x"], "b.c": ["y"]}`. */
export function flattenFields(value: unknown, prefix = ""): FieldErrors {
  const out: FieldErrors = {};
  if (!isRecord(value)) return out;
  for (const [key, messages] of Object.entries(value)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (typeof messages === "string") {
      out[name] = [messages];
    } else if (Array.isArray(messages)) {
      const strings: string[] = [];
      messages.forEach((item, index) => {
        if (typeof item === "string") strings.push(item);
        else Object.assign(out, flattenFields(item, `${name}.${index}`));
      });
      if (strings.length) out[name] = strings;
    } else if (isRecord(messages)) {
      Object.assign(out, flattenFields(messages, name));
    }
  }
  return out;
}

function fallbackMessage(status: number): string {
  if (status === 0) return "Could not reach the server. Check your connection and try again.";
  if (status === 401) return "Your session has ended. Please sign in again.";
  if (status === 403) return "You do not have permission to do that.";
  if (status === 404) return "Not found.";
  if (status === 429) return "Too many requests. Please wait a moment and try again.";
  if (status >= 500) return `The server had a problem (HTTP ${status}). Please try again.`;
  return `Request failed (HTTP ${status}).`;
}

/** Builds an ApiError from a status and whatever body came back (parsed JSON, text, nothing). */
export function parseApiError(status: number, body: unknown): ApiError {
  if (isRecord(body)) {
    const fields = flattenFields(body.fields);
    const code = typeof body.code === "string" && body.code ? body.code : "error";
    if (typeof body.message === "string" && body.message) {
      return new ApiError(status, code, body.message, fields);
    }
    // DRF's default `{"detail": "..."}`, in case a response slips past the backend's handler.
    if (typeof body.detail === "string" && body.detail) {
      return new ApiError(status, code, body.detail, fields);
    }
    return new ApiError(status, code, fallbackMessage(status), fields);
  }
  return new ApiError(status, status === 0 ? NETWORK_ERROR_CODE : "error", fallbackMessage(status));
}

export function networkError(cause: unknown): ApiError {
  const error = parseApiError(0, undefined);
  (error as { cause?: unknown }).cause = cause;
  return error;
}

/** A message to show for any thrown value. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error && error.message) return error.message;
  return "Something went wrong.";
}

export function isApiError(error: unknown, code?: string): error is ApiError {
  return error instanceof ApiError && (code === undefined || error.code === code);
}

/** True for the answers /auth/me/ gives without a session (401, or 403 from session auth). */
export function isUnauthenticated(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 401 || error.status === 403);
}
