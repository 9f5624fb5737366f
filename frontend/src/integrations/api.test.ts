import { describe, expect, it } from "vitest";
import { authOf } from "./api";

describe("authOf", () => {
  it("refers to secrets by name, never by value", () => {
    expect(authOf("bearer", "CRM_TOKEN")).toEqual({ type: "bearer", token: "{{secrets.CRM_TOKEN}}" });
    expect(authOf("api_key", "KEY", { header: "X-Key" })).toEqual({
      type: "api_key",
      token: "{{secrets.KEY}}",
      header: "X-Key",
    });
    expect(authOf("basic", "PASS", { username: "ada" })).toEqual({
      type: "basic",
      username: "ada",
      password: "{{secrets.PASS}}",
    });
  });

  it("sends no credentials for none, and the default header for an API key without one", () => {
    expect(authOf("none", "IGNORED")).toEqual({ type: "none" });
    expect(authOf("api_key", "KEY")).toMatchObject({ header: "X-API-Key" });
  });
});
