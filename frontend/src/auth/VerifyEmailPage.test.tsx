import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { routes } from "../router";
import { fakeBackend, renderRoutes, setCookies } from "../test/utils";

beforeEach(() => setCookies({ csrftoken: "tok" }));
afterEach(() => setCookies({ csrftoken: null }));

describe("VerifyEmailPage", () => {
  it("verifies on a click (never on load) and says which address", async () => {
    const { requests } = fakeBackend({
      "POST /api/v1/auth/email/verify/": { status: 200, body: { email: "dana@example.com", verify_url: null } },
    });
    const user = userEvent.setup();
    renderRoutes(routes, "/verify-email?token=tok-123");
    const button = await screen.findByRole("button", { name: "Verify email" });
    expect(requests.filter((r) => r.method === "POST")).toEqual([]);
    await user.click(button);
    expect(await screen.findByText("Email verified")).toBeInTheDocument();
    expect(screen.getByText("dana@example.com")).toBeInTheDocument();
    expect(requests.find((r) => r.method === "POST")?.body).toEqual({ token: "tok-123" });
  });

  it("shows the server's refusal for a used link", async () => {
    fakeBackend({
      "POST /api/v1/auth/email/verify/": {
        status: 404,
        body: { code: "verification_invalid", message: "This verification link is unknown, used or expired." },
      },
    });
    const user = userEvent.setup();
    renderRoutes(routes, "/verify-email?token=used");
    await user.click(await screen.findByRole("button", { name: "Verify email" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("unknown, used or expired");
  });
});
