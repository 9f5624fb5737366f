import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../lib/errors";
import { fakeBackend, setCookies } from "../test/utils";
import { api, unwrap, unwrapEmpty } from "./client";

afterEach(() => setCookies({ csrftoken: null }));

describe("api client", () => {
  it("sends the csrftoken cookie as X-CSRFToken on a POST", async () => {
    setCookies({ csrftoken: "tok-1" });
    const { requests } = fakeBackend({ "POST /api/v1/auth/logout/": { status: 204 } });
    await unwrapEmpty(api.POST("/api/v1/auth/logout/"));
    expect(requests).toHaveLength(1);
    expect(requests[0]?.headers.get("X-CSRFToken")).toBe("tok-1");
  });

  it("fetches the CSRF cookie first when there is none yet", async () => {
    setCookies({ csrftoken: null });
    const { requests } = fakeBackend({
      "GET /api/v1/auth/csrf/": () => {
        setCookies({ csrftoken: "fresh" });
        return { status: 204 };
      },
      "POST /api/v1/orgs/": (request) => ({
        status: 201,
        body: { id: "o1", name: (request.body as { name: string }).name, slug: "x", role: "owner", created_at: "" },
      }),
    });
    const org = await unwrap(api.POST("/api/v1/orgs/", { body: { name: "New" } }));
    expect(org.name).toBe("New");
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /api/v1/auth/csrf/", "POST /api/v1/orgs/"]);
    expect(requests[1]?.headers.get("X-CSRFToken")).toBe("fresh");
  });

  it("does not send the CSRF header on a GET", async () => {
    setCookies({ csrftoken: "tok-2" });
    const { requests } = fakeBackend({ "GET /api/v1/orgs/": { status: 200, body: [] } });
    await expect(unwrap(api.GET("/api/v1/orgs/"))).resolves.toEqual([]);
    expect(requests[0]?.headers.get("X-CSRFToken")).toBeNull();
  });

  it("throws an ApiError with the server's code, message and fields", async () => {
    setCookies({ csrftoken: "tok" });
    fakeBackend({
      "POST /api/v1/auth/login/": {
        status: 400,
        body: { code: "invalid", message: "username: This field is required.", fields: { username: ["This field is required."] } },
      },
    });
    const failure = await unwrap(api.POST("/api/v1/auth/login/", { body: { username: "", password: "x" } })).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ApiError);
    const error = failure as ApiError;
    expect(error.status).toBe(400);
    expect(error.code).toBe("invalid");
    expect(error.fieldErrors("username")).toEqual(["This field is required."]);
  });

  it("turns a network failure into a network_error ApiError", async () => {
    vi.stubGlobal("fetch", vi.fn().mockRejectedValue(new TypeError("Failed to fetch")));
    const failure = await unwrap(api.GET("/api/v1/orgs/")).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).code).toBe("network_error");
  });
});
