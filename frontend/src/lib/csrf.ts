/** Django's CSRF protection: the `csrftoken` cookie echoed in the `X-CSRFToken` header. */

export const CSRF_COOKIE_NAME = "csrftoken";
export const CSRF_HEADER_NAME = "X-CSRFToken";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/** Reads one cookie from a `document.cookie`-style string; undefined when absent or empty. */
export function readCookie(name: string, cookies: string): string | undefined {
  for (const part of cookies.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    if (raw === "") return undefined;
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }
  return undefined;
}

export function csrfToken(cookies: string = document.cookie): string | undefined {
  return readCookie(CSRF_COOKIE_NAME, cookies);
}

/** Django checks the token on every method that is not "safe" (RFC 9110). */
export function needsCsrf(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}
