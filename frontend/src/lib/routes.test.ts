import { describe, expect, it } from "vitest";
import { absoluteUrl, homePath, loginPath, orgPath, parseOrgPath, safeNextPath, switchOrgPath } from "./routes";

describe("orgPath / homePath", () => {
  it("builds tenant-prefixed paths, flows by default", () => {
    expect(orgPath("a1")).toBe("/o/a1/flows");
    expect(orgPath("a1", "settings", "members")).toBe("/o/a1/settings/members");
  });

  it("sends a user to their first organization, or to onboarding without one", () => {
    expect(homePath([{ id: "first" }, { id: "second" }])).toBe("/o/first/flows");
    expect(homePath([])).toBe("/welcome");
  });
});

describe("switchOrgPath", () => {
  it("keeps the section when switching organization", () => {
    expect(switchOrgPath("/o/a/knowledge", "b")).toBe("/o/b/knowledge");
    expect(switchOrgPath("/o/a/runs", "b")).toBe("/o/b/runs");
  });

  it("keeps the settings tab", () => {
    expect(switchOrgPath("/o/a/settings/api-keys", "b")).toBe("/o/b/settings/api-keys");
    expect(switchOrgPath("/o/a/settings/nope", "b")).toBe("/o/b/settings/organization");
  });

  it("drops ids that belong to the old organization", () => {
    expect(switchOrgPath("/o/a/flows/42/edit", "b")).toBe("/o/b/flows");
  });

  it("falls back to flows outside an organization route", () => {
    expect(switchOrgPath("/welcome", "b")).toBe("/o/b/flows");
    expect(switchOrgPath("/o/a/unknown", "b")).toBe("/o/b/flows");
  });
});

describe("parseOrgPath", () => {
  it("splits an org route", () => {
    expect(parseOrgPath("/o/a%20b/settings/members")).toEqual({ orgId: "a b", section: "settings", rest: ["members"] });
    expect(parseOrgPath("/login")).toBeUndefined();
  });
});

describe("safeNextPath / loginPath", () => {
  it("accepts same-origin paths only", () => {
    expect(safeNextPath("/o/a/settings/members")).toBe("/o/a/settings/members");
    expect(safeNextPath("//evil.example/x")).toBeUndefined();
    expect(safeNextPath("/\\evil.example")).toBeUndefined();
    expect(safeNextPath("https://evil.example")).toBeUndefined();
    expect(safeNextPath("/login?next=/x")).toBeUndefined();
    expect(safeNextPath(null)).toBeUndefined();
  });

  it("carries the page to come back to", () => {
    expect(loginPath("/o/a/runs")).toBe("/login?next=%2Fo%2Fa%2Fruns");
    expect(loginPath("/")).toBe("/login");
    expect(loginPath()).toBe("/login");
  });
});

describe("absoluteUrl", () => {
  it("resolves relative links against the origin and keeps absolute ones", () => {
    expect(absoluteUrl("/invite?token=t", "https://trellis.example")).toBe("https://trellis.example/invite?token=t");
    expect(absoluteUrl("https://other.example/invite?token=t", "https://trellis.example")).toBe(
      "https://other.example/invite?token=t",
    );
  });
});
