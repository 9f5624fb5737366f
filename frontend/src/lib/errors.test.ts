import { describe, expect, it } from "vitest";
import { ApiError, errorMessage, flattenFields, isUnauthenticated, parseApiError } from "./errors";

describe("parseApiError", () => {
  it("keeps the backend's code, message and fields", () => {
    const error = parseApiError(400, {
      code: "invalid",
      message: "email: Enter a valid email address.",
      fields: { email: ["Enter a valid email address."], role: ["Not a role."] },
    });
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(400);
    expect(error.code).toBe("invalid");
    expect(error.message).toBe("email: Enter a valid email address.");
    expect(error.fieldErrors("email")).toEqual(["Enter a valid email address."]);
    expect(error.fieldErrors("role")).toEqual(["Not a role."]);
    expect(error.fieldErrors("name")).toEqual([]);
  });

  it("reads the login failure exactly as the server words it", () => {
    const error = parseApiError(400, { code: "invalid_credentials", message: "Invalid username or password." });
    expect(error.code).toBe("invalid_credentials");
    expect(errorMessage(error)).toBe("Invalid username or password.");
    expect(error.fields).toEqual({});
  });

  it("falls back to DRF's detail when there is no message", () => {
    const error = parseApiError(403, { detail: "You do not have permission to perform this action." });
    expect(error.code).toBe("error");
    expect(error.message).toBe("You do not have permission to perform this action.");
  });

  it("gives a readable message for a non-JSON body (a proxy's HTML page)", () => {
    const error = parseApiError(502, "<html>Bad gateway</html>");
    expect(error.code).toBe("error");
    expect(error.message).toMatch(/server had a problem.*502/);
  });

  it("describes a network failure as status 0", () => {
    const error = parseApiError(0, undefined);
    expect(error.code).toBe("network_error");
    expect(error.message).toMatch(/could not reach the server/i);
  });

  it("ignores a code or message of the wrong type", () => {
    const error = parseApiError(400, { code: 7, message: ["no"] });
    expect(error.code).toBe("error");
    expect(error.message).toBe("Request failed (HTTP 400).");
  });
});

describe("flattenFields", () => {
  it("flattens nested serializer errors into dotted names", () => {
    expect(
      flattenFields({
        name: "Required.",
        config: { top_k: ["Too big."] },
        items: [{ id: ["Bad id."] }, "Top-level item error."],
      }),
    ).toEqual({
      name: ["Required."],
      "config.top_k": ["Too big."],
      "items.0.id": ["Bad id."],
      items: ["Top-level item error."],
    });
  });

  it("returns nothing for a missing or malformed value", () => {
    expect(flattenFields(undefined)).toEqual({});
    expect(flattenFields(["x"])).toEqual({});
  });
});

describe("isUnauthenticated", () => {
  it("treats 401 and 403 as signed out and nothing else", () => {
    expect(isUnauthenticated(parseApiError(401, {}))).toBe(true);
    expect(isUnauthenticated(parseApiError(403, { code: "not_authenticated", message: "x" }))).toBe(true);
    expect(isUnauthenticated(parseApiError(500, {}))).toBe(false);
    expect(isUnauthenticated(new Error("boom"))).toBe(false);
  });
});
