import { afterEach, describe, expect, it } from "vitest";
import { setCookies } from "../test/utils";
import { csrfToken, needsCsrf, readCookie } from "./csrf";

describe("readCookie", () => {
  it("finds a cookie among others, ignoring spaces", () => {
    expect(readCookie("csrftoken", "sessionid=s1; csrftoken=abc123; theme=light")).toBe("abc123");
  });

  it("does not match a cookie whose name only ends with the name", () => {
    expect(readCookie("csrftoken", "xcsrftoken=nope")).toBeUndefined();
  });

  it("decodes percent-encoded values and keeps '=' inside values", () => {
    expect(readCookie("t", "t=a%20b=c")).toBe("a b=c");
  });

  it("returns undefined for a missing or empty cookie", () => {
    expect(readCookie("csrftoken", "")).toBeUndefined();
    expect(readCookie("csrftoken", "csrftoken=")).toBeUndefined();
  });

  it("keeps a malformed percent sequence as is", () => {
    expect(readCookie("t", "t=%E0%A4%A")).toBe("%E0%A4%A");
  });
});

describe("csrfToken", () => {
  afterEach(() => setCookies({ csrftoken: null }));

  it("reads Django's csrftoken cookie from the document", () => {
    setCookies({ csrftoken: "from-document" });
    expect(csrfToken()).toBe("from-document");
  });

  it("is undefined before the server has set it", () => {
    setCookies({ csrftoken: null });
    expect(csrfToken()).toBeUndefined();
  });
});

describe("needsCsrf", () => {
  it.each(["POST", "PUT", "PATCH", "DELETE", "post"])("is true for %s", (method) => {
    expect(needsCsrf(method)).toBe(true);
  });

  it.each(["GET", "HEAD", "OPTIONS", "TRACE", "get"])("is false for %s", (method) => {
    expect(needsCsrf(method)).toBe(false);
  });
});
