/** The typed HTTP client: openapi-fetch over the generated `paths`, session + CSRF auth. */
import createClient, { type Middleware } from "openapi-fetch";
import { csrfToken, CSRF_HEADER_NAME, needsCsrf } from "../lib/csrf";
import { networkError, parseApiError } from "../lib/errors";
import type { paths } from "./schema";

export const CSRF_PATH = "/api/v1/auth/csrf/";

let csrfRequest: Promise<void> | undefined;

/** GET /auth/csrf/ once so Django sets the `csrftoken` cookie; concurrent callers share it. */
export function ensureCsrfCookie(fetchImpl: typeof fetch = globalThis.fetch): Promise<void> {
  if (csrfToken()) return Promise.resolve();
  csrfRequest ??= fetchImpl(CSRF_PATH, { credentials: "same-origin" })
    .then(() => undefined)
    .finally(() => {
      csrfRequest = undefined;
    });
  return csrfRequest;
}

const csrfMiddleware: Middleware = {
  async onRequest({ request }) {
    if (!needsCsrf(request.method)) return undefined;
    await ensureCsrfCookie();
    const token = csrfToken();
    if (token) request.headers.set(CSRF_HEADER_NAME, token);
    return request;
  },
};

/** Same origin; absolute because `new Request()` outside a browser rejects relative URLs. */
function defaultBaseUrl(): string {
  return typeof window === "undefined" ? "" : window.location.origin;
}

export function createApiClient(baseUrl = defaultBaseUrl()) {
  const client = createClient<paths>({
    baseUrl,
    credentials: "same-origin",
    // Looked up per call, not captured once, so tests (and polyfills) can replace it.
    fetch: (request) => globalThis.fetch(request),
    headers: { Accept: "application/json" },
  });
  client.use(csrfMiddleware);
  return client;
}

export const api = createApiClient();

interface FetchResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

async function settle<R extends FetchResult>(call: Promise<R>): Promise<R> {
  let result: R;
  try {
    result = await call;
  } catch (cause) {
    throw networkError(cause);
  }
  if (!result.response.ok || result.error !== undefined) {
    throw parseApiError(result.response.status, result.error);
  }
  return result;
}

/**
 * Awaits an openapi-fetch call and returns its data, or throws an ApiError carrying the
 * server's `code`, `message` and `fields`.
 */
export async function unwrap<R extends FetchResult>(call: Promise<R>): Promise<Exclude<R["data"], undefined>> {
  const result = await settle(call);
  return result.data as Exclude<R["data"], undefined>;
}

/** For 204 answers: succeeds or throws an ApiError. */
export async function unwrapEmpty(call: Promise<FetchResult>): Promise<void> {
  await settle(call);
}
