import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeBackend, ORG_A, renderWithClient } from "../test/utils";
import { SourcesPanel } from "./Sources";

const KB_ID = "33333333-3333-4333-8333-333333333333";
const SOURCES_URL = `/api/v1/orgs/${ORG_A}/knowledge-bases/${KB_ID}/sources/`;

afterEach(() => vi.unstubAllGlobals());

describe("SourcesPanel", () => {
  it("adds an S3-compatible bucket with its endpoint, prefix, path style and key pair", async () => {
    const { requests } = fakeBackend({
      [`GET ${SOURCES_URL}`]: { status: 200, body: [] },
      [`POST ${SOURCES_URL}`]: (request) =>
        request.body && (request.body as { bucket?: string }).bucket === "handbook"
          ? { status: 202, body: { id: "s1" } }
          : { status: 400, body: { code: "invalid", message: "Give the bucket's name." } },
    });
    renderWithClient(<SourcesPanel orgId={ORG_A} kbId={KB_ID} />);
    await userEvent.click(await screen.findByRole("button", { name: "Add a source" }));
    await userEvent.click(screen.getByRole("radio", { name: /S3-compatible/ }));
    expect(screen.queryByLabelText("Start page or sitemap URL")).not.toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Bucket"), "handbook");
    await userEvent.type(screen.getByLabelText("Prefix (optional)"), "manuals/");
    await userEvent.type(screen.getByLabelText(/Endpoint URL/), "https://minio.example.com");
    await userEvent.type(screen.getByLabelText("Region"), "eu-west-1");
    await userEvent.click(screen.getByLabelText(/Path-style/));
    await userEvent.type(screen.getByLabelText("Access key ID"), "AKIA1");
    await userEvent.type(screen.getByLabelText("Secret access key"), "s3cret");
    expect(screen.getByLabelText("Secret access key")).toHaveAttribute("type", "password");
    await userEvent.click(screen.getByRole("button", { name: "Add and sync" }));
    await waitFor(() => expect(requests.some((r) => r.method === "POST")).toBe(true));
    const sent = requests.find((r) => r.method === "POST")?.body as Record<string, unknown>;
    expect(sent).toMatchObject({
      kind: "s3",
      bucket: "handbook",
      prefix: "manuals/",
      endpoint_url: "https://minio.example.com",
      region: "eu-west-1",
      path_style: true,
      access_key_id: "AKIA1",
      secret_access_key: "s3cret",
    });
    expect(sent).not.toHaveProperty("url");
  }, 30_000);

  it("shows a bucket source as s3://bucket/prefix at its endpoint", async () => {
    fakeBackend({
      [`GET ${SOURCES_URL}`]: {
        status: 200,
        body: [
          {
            id: "s1",
            kind: "s3",
            name: "Handbook bucket",
            url: "https://minio.example.com",
            path: "",
            bucket: "handbook",
            prefix: "manuals/",
            region: "",
            path_style: true,
            has_credentials: true,
            max_pages: 50,
            max_depth: 2,
            sync_every_minutes: null,
            status: "ok",
            found: 2,
            added: 2,
            changed: 0,
            unchanged: 0,
            removed: 0,
            skipped: 0,
            sync_errors: [],
            error_code: "",
            error_message: "",
            document_count: 2,
            last_sync_started_at: null,
            last_sync_at: "2026-01-01T00:00:00Z",
            next_sync_at: null,
            created_at: "2026-01-01T00:00:00Z",
          },
        ],
      },
    });
    renderWithClient(<SourcesPanel orgId={ORG_A} kbId={KB_ID} />);
    expect(await screen.findByText(/s3:\/\/handbook\/manuals\/ at https:\/\/minio.example.com · 2 documents/)).toBeVisible();
    // the last sync's exact instant is in the page (a re-sync within the same minute still shows a change)
    const sync = screen.getByRole("status", { name: "Handbook bucket sync" });
    expect(sync).toHaveTextContent(/^Last sync .+: 2 found · 2 new · 0 changed · 0 unchanged · 0 removed$/);
    expect(sync.querySelector("time")).toHaveAttribute("datetime", "2026-01-01T00:00:00Z");
  });
});
