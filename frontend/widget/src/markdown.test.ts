import { describe, expect, it } from "vitest";
import { renderMarkdown, safeUrl } from "./markdown";

function html(source: string): string {
  const div = document.createElement("div");
  div.append(renderMarkdown(source));
  return div.innerHTML;
}

describe("renderMarkdown", () => {
  it("renders the usual Markdown", () => {
    const out = html("# Title\n\nSome **bold** and *it* and `code` [1].\n\n- a\n- b\n\n1. one\n\n```\nx < y\n```");
    expect(out).toContain("<h3>Title</h3>");
    expect(out).toContain("<strong>bold</strong>");
    expect(out).toContain("<em>it</em>");
    expect(out).toContain("<code>code</code>");
    expect(out).toContain('<sup class="cite">[1]</sup>');
    expect(out).toContain("<ul><li>a</li><li>b</li></ul>");
    expect(out).toContain("<ol><li>one</li></ol>");
    expect(out).toContain("<pre><code>x &lt; y</code></pre>");
  });

  it("keeps HTML from model output as inert text", () => {
    const div = document.createElement("div");
    div.append(renderMarkdown('<img src=x onerror="alert(1)"> <script>alert(2)</script> **<b>x</b>**'));
    expect(div.querySelector("img, script, b")).toBeNull();
    expect(div.textContent).toContain("<img src=x onerror=");
    expect(div.textContent).toContain("<script>alert(2)</script>");
  });

  it("links only to http(s) and mailto", () => {
    const div = document.createElement("div");
    div.append(
      renderMarkdown(
        "[ok](https://example.com/a) [bad](javascript:alert(1)) [tab](java\tscript:alert(1)) [data](data:text/html,x) [rel](/x) https://trellis.dev/docs.",
      ),
    );
    const hrefs = [...div.querySelectorAll("a")].map((a) => a.getAttribute("href"));
    expect(hrefs).toEqual(["https://example.com/a", "https://trellis.dev/docs"]);
    expect(div.querySelector("a")?.getAttribute("rel")).toContain("noopener");
    expect(div.textContent).toContain("bad");
  });

  it("tolerates a code fence that is still streaming", () => {
    expect(html("```\npartial")).toBe("<pre><code>partial</code></pre>");
  });
});

describe("safeUrl", () => {
  it.each([
    ["https://a.example/x", "https://a.example/x"],
    ["mailto:me@example.com", "mailto:me@example.com"],
    [" JavaScript:alert(1)", null],
    ["vbscript:x", null],
    ["//evil.example", null],
  ])("%s", (raw, expected) => {
    expect(safeUrl(raw)).toBe(expected);
  });
});
