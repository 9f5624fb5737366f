"""The widget as a visitor meets it: real Chromium on a page from another origin (another port),
the real server (uvicorn) serving /widget.js and the widget socket, a real model server."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from apps.runs.models import Run
from apps.widgets.models import Feedback
from apps.widgets.selectors import citations_of
from tests.conftest import Member
from tests.flows.graphs import chat_flow

# The server under test reads this when it starts: a 10 s rate-limit window instead of a minute,
# so "the next minute works again" is checked without waiting a minute. Only widgets read it.
RATE_WINDOW = 10
os.environ["TRELLIS_WIDGET_RATE_WINDOW"] = str(RATE_WINDOW)

pytestmark = pytest.mark.django_db(transaction=True)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def host_site(tmp_path: Path) -> Iterator[Callable[[str, str], str]]:
    """A static site on its own port of 127.0.0.1: another origin than the Trellis server."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"

    def page(name: str, snippet: str) -> str:
        # The host page's own CSS tries hard to restyle everything; the widget must not care.
        html = f"""<!doctype html><html><head><title>Shop</title>
<style>* {{ color: red !important; font-size: 40px !important; display: block; }}</style></head>
<body><h1>Our shop</h1><p>Welcome.</p>{snippet}</body></html>"""
        (tmp_path / name).write_text(html)
        return f"{origin}/{name}"

    page.origin = origin  # type: ignore[attr-defined]
    yield page
    server.shutdown()


@pytest.fixture
def visitor(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, errors


def _widget(member: Member, flow_id: str, origins: list[str], **fields: Any) -> dict[str, Any]:
    body = {"flow": flow_id, "allowed_origins": origins, **fields}
    response = member.client().post(f"/api/v1/orgs/{member.organization.id}/widgets/", body, format="json")
    assert response.status_code == 201, response.json()
    return dict(response.json())


def _snippet(live_url: str, key: str) -> str:
    return f'<script src="{live_url}/widget.js" data-key="{key}" async></script>'


def _ask(page: Any, text: str) -> None:
    page.get_by_role("textbox", name="Your message").fill(text)
    page.get_by_role("textbox", name="Your message").press("Enter")


def test_widget_on_another_origin_streams_and_survives_a_reload(
    live_url: str, org_a: Member, endpoint: Any, publish_flow: Any, host_site: Any, visitor: Any
) -> None:
    endpoint(alias="slow", model="standin-rate-6-n-12")  # 2 s of tokens: slow enough to watch
    flow = publish_flow(alias="slow")
    widget = _widget(org_a, flow["id"], [host_site.origin], appearance={"title": "Shop help", "greeting": "Hi there!"})
    url = host_site("shop.html", _snippet(live_url, widget["public_key"]))

    visitor.goto(url)
    visitor.locator("trellis-chat[data-state=ready]").wait_for(state="attached")
    bubble = visitor.get_by_role("button", name="Open chat")
    assert bubble.evaluate("b => getComputedStyle(b).borderRadius") == "50%"  # the host's CSS did not get in
    bubble.click()
    dialog = visitor.get_by_role("dialog", name="Shop help")
    dialog.get_by_text("Hi there!").wait_for()
    _ask(visitor, "What are your opening hours?")

    answer = dialog.locator(".msg.assistant").last
    seen: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = answer.locator("p").first.inner_text() if answer.locator("p").count() else ""
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if "lima" in text and "typing" not in (answer.get_attribute("class") or ""):
            break
        time.sleep(0.1)
    assert seen[-1].startswith("alpha bravo charlie") and seen[-1].rstrip().endswith("lima")
    partial = [t for t in seen if "alpha" in t and "lima" not in t]
    assert len(partial) >= 3, seen  # tokens arrived one by one, not as one block

    run = Run.objects.get(source="widget")
    assert run.status == "completed" and run.version is not None and run.version.number == 1

    answer.get_by_role("button", name="Bad answer").click()
    comment = answer.get_by_role("textbox", name="Add a comment (optional)")
    comment.fill("Too vague")
    comment.press("Enter")
    answer.get_by_text("Thanks!").wait_for()
    deadline = time.monotonic() + 5
    while not Feedback.objects.filter(run=run, comment="Too vague").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Feedback.objects.get(run=run).rating == -1

    visitor.reload()
    visitor.get_by_role("button", name="Open chat").click()
    dialog = visitor.get_by_role("dialog", name="Shop help")
    dialog.get_by_text("What are your opening hours?").wait_for()
    assert "lima" in dialog.locator(".msg.assistant").last.inner_text()
    assert Run.objects.count() == 1  # a reload runs nothing


def test_widget_on_a_non_allowed_origin_says_so_and_runs_nothing(
    live_url: str, org_a: Member, endpoint: Any, publish_flow: Any, host_site: Any, visitor: Any
) -> None:
    endpoint()
    widget = _widget(org_a, publish_flow()["id"], ["https://the-real-shop.example.com"])
    sockets: list[str] = []
    visitor.on("websocket", lambda ws: sockets.append(ws.url))
    visitor.goto(host_site("copycat.html", _snippet(live_url, widget["public_key"])))
    visitor.get_by_role("button", name="Open chat").click()
    visitor.get_by_text("This chat is not allowed here.").wait_for()
    assert visitor.get_by_role("textbox", name="Your message").count() == 0
    assert visitor.locator("trellis-chat").get_attribute("data-state") == "not-allowed"
    assert not sockets and not Run.objects.exists()


def test_widget_renders_model_output_inert(
    live_url: str, org_a: Member, endpoint: Any, publish_flow: Any, host_site: Any, visitor: Any
) -> None:
    endpoint(alias="echo", model="standin-echo")  # the model repeats the visitor's message
    flow = publish_flow(alias="echo", graph=chat_flow(template="{{question}}", model="echo"))
    widget = _widget(org_a, flow["id"], [host_site.origin])
    visitor.goto(host_site("xss.html", _snippet(live_url, widget["public_key"])))
    visitor.get_by_role("button", name="Open chat").click()
    payload = (
        '<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script> '
        "[click me](javascript:window.pwned=3) **bold** [docs](https://example.com/docs)"
    )
    _ask(visitor, payload)
    answer = visitor.locator(".msg.assistant").last
    answer.locator("strong", has_text="bold").wait_for()
    visitor.wait_for_function("() => !document.querySelector('trellis-chat').shadowRoot.querySelector('.msg.typing')")
    assert answer.locator("img, script").count() == 0
    assert answer.locator("a[href^='javascript']").count() == 0
    assert answer.locator("a").get_attribute("href") == "https://example.com/docs"
    assert "<img src=x onerror=" in answer.inner_text()  # shown as text
    answer.get_by_text("click me").click()
    assert visitor.evaluate("() => window.pwned") is None
    assert Run.objects.get().output_text.startswith("<img")  # the model really produced it


def test_widget_per_visitor_rate_limit_says_so_and_the_next_window_works(
    live_url: str, org_a: Member, endpoint: Any, publish_flow: Any, host_site: Any, visitor: Any
) -> None:
    endpoint(alias="fast", model="standin-rate-0-n-3")
    widget = _widget(org_a, publish_flow(alias="fast")["id"], [host_site.origin], visitor_messages_per_minute=1)
    visitor.goto(host_site("limit.html", _snippet(live_url, widget["public_key"])))
    visitor.get_by_role("button", name="Open chat").click()
    # Start at the beginning of a window so the two messages share it.
    time.sleep(RATE_WINDOW - (time.time() % RATE_WINDOW) + 0.2)
    _ask(visitor, "first")
    visitor.locator(".msg.assistant").filter(has_text="charlie").wait_for()
    _ask(visitor, "second")
    notice = visitor.locator(".msg.notice")
    notice.wait_for()
    assert "too quickly" in notice.inner_text()
    assert Run.objects.count() == 1
    time.sleep(RATE_WINDOW - (time.time() % RATE_WINDOW) + 0.2)  # the next window
    _ask(visitor, "third")
    visitor.get_by_text("third").wait_for()
    visitor.wait_for_function(
        "() => { const root = document.querySelector('trellis-chat').shadowRoot;"
        " return root.querySelectorAll('.msg.assistant').length >= 2 && !root.querySelector('.msg.typing') }"
    )
    assert Run.objects.count() == 2


def test_widget_answers_from_a_knowledge_base_with_a_citation(
    live_url: str, local_model_url: str, org_a: Member, endpoint: Any, host_site: Any, visitor: Any
) -> None:
    """The real local model (SmolLM2) answers from a real knowledge base; the answer streams and
    cites the document it was given."""
    from apps.knowledge.services import document_upload, knowledge_base_create
    from apps.serving.services import BUILTIN_MODEL
    from tests.apps.knowledge.conftest import ingest_pending
    from tests.apps.knowledge.files import upload
    from tests.flows.graphs import graph

    endpoint(alias="smol", model=BUILTIN_MODEL, base_url=local_model_url)
    kb = knowledge_base_create(access=org_a.access, name="Shop handbook")
    text = b"# Opening hours\n\nThe Trellis shop opens at 9am and closes at 6pm, Monday to Saturday.\n"
    document_upload(access=org_a.access, knowledge_base_id=kb.pk, files=[upload("opening-hours.md", text)])
    assert ingest_pending(kb) == ["ready"], "the document was not indexed"
    spec = (
        graph()
        .node("in", "chat_input")
        .node("kb", "retrieve", knowledge_base=str(kb.pk), top_k=1)
        .node("prompt", "prompt", template="{{question}}")
        .node("llm", "llm", model="smol", max_tokens=24, temperature=0)
        .node("out", "output")
        .edge("in", "kb", "message", "query")
        .edge("in", "prompt", "message", "question")
        .edge("kb", "llm", "documents", "context")
        .edge("prompt", "llm", "messages", "prompt")
        .edge("llm", "out", "text", "value")
        .edge("llm", "out", "sources", "sources")
        .spec
    )
    client, base = org_a.client(), f"/api/v1/orgs/{org_a.organization.id}/flows/"
    flow = client.post(base, {"name": "Handbook bot", "graph": spec}, format="json").json()
    assert client.post(f"{base}{flow['id']}/versions/", {"note": "v1"}, format="json").status_code == 201
    widget = _widget(org_a, flow["id"], [host_site.origin], appearance={"title": "Shop help"})

    visitor.goto(host_site("kb.html", _snippet(live_url, widget["public_key"])))
    visitor.get_by_role("button", name="Open chat").click()
    _ask(visitor, "When does the shop open?")
    answer = visitor.locator(".msg.assistant").last
    seen: set[str] = set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and "typing" in (answer.get_attribute("class") or "typing"):
        if answer.locator("p").count():
            seen.add(answer.locator("p").first.inner_text())
        time.sleep(0.05)
    assert len(seen) >= 2, seen  # more than one state while it streamed
    sources = answer.locator("details.sources")
    sources.wait_for()
    assert "Sources (1)" in sources.inner_text()
    assert "opening-hours.md" in sources.inner_text() and "9am" in sources.inner_text()
    run = Run.objects.get(source="widget")
    assert run.status == "completed" and run.output_tokens > 0
    assert citations_of(run.output)[0]["title"] == "opening-hours.md"


def test_widget_hosted_full_page_chat_works_under_its_csp(
    live_url: str, org_a: Member, endpoint: Any, publish_flow: Any, visitor: Any
) -> None:
    endpoint(alias="fast", model="standin-rate-0-n-3")
    widget = _widget(org_a, publish_flow(alias="fast")["id"], [], appearance={"title": "Ask the shop"})
    violations: list[str] = []
    visitor.on(
        "console", lambda message: violations.append(message.text) if "Content Security" in message.text else None
    )
    response = visitor.goto(f"{live_url}/w/{widget['public_key']}/")
    assert "frame-ancestors 'self'" in response.headers["content-security-policy"]
    dialog = visitor.get_by_role("dialog", name="Ask the shop")  # open at once: the page is the chat
    _ask(visitor, "hello")
    dialog.locator(".msg.assistant").filter(has_text="charlie").wait_for()
    assert visitor.get_by_role("button", name="Open chat").count() == 0
    assert not violations, violations
