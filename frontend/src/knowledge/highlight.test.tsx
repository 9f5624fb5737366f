import { render } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { highlight } from "./highlight";

describe("highlight", () => {
  it("marks the words that start with a matched stem, case-insensitively", () => {
    const { container } = render(<p>{highlight("Permits cost forty two crowns per permit.", ["permit", "crown"])}</p>);
    expect([...container.querySelectorAll("mark")].map((m) => m.textContent)).toEqual(["Permits", "crowns", "permit"]);
    expect(container.textContent).toBe("Permits cost forty two crowns per permit.");
  });

  it("leaves text alone without terms, and ignores one-letter stems", () => {
    const { container } = render(<p>{highlight("a plain answer", ["a"])}</p>);
    expect(container.querySelector("mark")).toBeNull();
  });
});
