"""Helpers for driving the canvas editor in Chromium: sign in, drag from the palette, connect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-results" / "editor"


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def drop_from_palette(page: Any, node_type: str, x: float, y: float) -> None:
    """HTML5 drag from the palette onto the canvas at (x, y) relative to the canvas."""
    item = page.get_by_test_id(f"palette-{node_type}")
    canvas = page.get_by_test_id("canvas")
    item.drag_to(canvas, target_position={"x": x, "y": y})


def handle(page: Any, node_id: str, port: str, kind: str) -> Any:
    return page.locator(f'.react-flow__handle.{kind}[data-nodeid="{node_id}"][data-handleid="{port}"]')


def connect(page: Any, source: str, source_port: str, target: str, target_port: str) -> None:
    """Drags from an output handle to an input handle with real mouse moves (React Flow needs steps)."""
    # A port that just appeared (a new template variable) is measured by React Flow a frame later.
    page.wait_for_timeout(250)
    start = handle(page, source, source_port, "source").bounding_box()
    end = handle(page, target, target_port, "target").bounding_box()
    assert start and end, f"handles {source}.{source_port} -> {target}.{target_port} not found"
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=12)
    page.mouse.up()


def open_node(page: Any, node_id: str) -> None:
    page.get_by_test_id(f"node-{node_id}").locator(".fnode__header").click()
    expect(page.get_by_test_id("config-panel")).to_contain_text(node_id)


def wait_saved(page: Any) -> None:
    expect(page.get_by_test_id("save-state")).to_have_attribute("data-state", "saved", timeout=15_000)


def shot(page: Any, name: str, locator: Any | None = None) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    (locator or page).screenshot(path=str(path))
    return path
