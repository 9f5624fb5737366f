"""The runs browser API: keyset pages, filters, one run's trace as a waterfall, visitors' feedback."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User

from apps.runs.models import Run, Span
from apps.serving.models import ModelCall
from apps.widgets.models import Feedback, Visitor, Widget, WidgetRun
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _base(member: Member) -> str:
    return f"/api/v1/orgs/{member.organization.id}"


def _run(member: Member, flow_id: str, *, at: datetime, **fields: Any) -> Run:
    run = Run.objects.create(organization=member.organization, flow_id=flow_id, **fields)
    Run.objects.filter(pk=run.pk).update(started_at=at)  # auto_now_add: set the time afterwards
    run.started_at = at
    return run


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def test_runs_api_pages_newest_first_with_a_keyset_cursor(org_a: Member, publish_flow: Callable[..., Any]) -> None:
    flow = publish_flow(publish=False)
    # Ties on started_at: the id breaks them, so no row is skipped or repeated across pages.
    runs = [_run(org_a, flow["id"], at=T0 + timedelta(seconds=i // 2)) for i in range(7)]
    expected = [str(r.pk) for r in sorted(runs, key=lambda r: (r.started_at, r.pk), reverse=True)]
    client, seen, cursor = org_a.client(), [], None
    for _ in range(4):
        page = client.get(f"{_base(org_a)}/runs/", {"limit": 3, **({"cursor": cursor} if cursor else {})})
        seen += _ids(page)
        cursor = page.json()["next"]
        if cursor is None:
            break
    assert seen == expected and cursor is None


@pytest.fixture
def browsed(org_a: Member, publish_flow: Callable[..., Any], add_member: Callable[..., Member]) -> dict[str, Any]:
    """Runs of two flows from every source, failed and completed, rated and not."""
    support, other = publish_flow(), publish_flow(publish=False)
    colleague = add_member(org_a.organization, "editor", username="colleague")
    User.objects.filter(pk=colleague.user.pk).update(email="colleague@example.com")
    widget = Widget.objects.create(organization=org_a.organization, flow_id=support["id"], name="Help")
    visitor = Visitor.objects.create(widget=widget)
    runs = {
        "playground": _run(
            org_a,
            support["id"],
            at=T0,
            status="completed",
            inputs={"message": "What are your opening hours?"},
            output_text="We open at nine.",
            created_by=colleague.user,
        ),
        "api": _run(org_a, support["id"], at=T0 + timedelta(hours=1), source="api", status="completed"),
        "openai": _run(org_a, other["id"], at=T0 + timedelta(hours=2), source="openai", status="completed"),
        "widget": _run(
            org_a,
            support["id"],
            at=T0 + timedelta(hours=3),
            source="widget",
            status="failed",
            error_code="model_timeout",
            inputs={"message": "Refund my parcel"},
            output_text="Let me check the refund pol",
        ),
        "widget_ok": _run(org_a, support["id"], at=T0 + timedelta(hours=4), source="widget", status="completed"),
    }
    version = org_a.client().get(f"{_base(org_a)}/flows/{support['id']}/versions/").json()
    Run.objects.filter(pk=runs["api"].pk).update(version_id=version[0]["id"] if isinstance(version, list) else None)
    for name in ("widget", "widget_ok"):
        WidgetRun.objects.create(run=runs[name], widget=widget, visitor=visitor)
    Feedback.objects.create(run=runs["widget"], widget=widget, rating=-1, comment="It never answered")
    Feedback.objects.create(run=runs["widget_ok"], widget=widget, rating=1)
    ModelCall.objects.create(
        organization=org_a.organization,
        run_id=runs["api"].pk,
        alias="gpt",
        served_by="backup",
        status="ok",
        at=T0 + timedelta(hours=1),
    )
    return {"runs": runs, "flow": support, "other": other, "visitor": visitor, "widget": widget}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["widget_ok", "widget", "openai", "api", "playground"]),
        ({"source": "widget"}, ["widget_ok", "widget"]),
        ({"source": "openai"}, ["openai"]),
        ({"status": "failed"}, ["widget"]),
        ({"error_code": "model_timeout"}, ["widget"]),
        ({"model": "backup"}, ["api"]),
        ({"model": "gpt"}, ["api"]),
        ({"version": "1"}, ["api"]),
        ({"since": "2026-03-01T13:00:00Z", "until": "2026-03-01T15:00:00Z"}, ["openai", "api"]),  # [since, until)
        ({"user": "Colleague@example.com"}, ["playground"]),
        ({"feedback": "down"}, ["widget"]),
        ({"feedback": "any"}, ["widget_ok", "widget"]),
        ({"q": "Opening HOURS"}, ["playground"]),  # whole words, any case
        ({"q": "hour"}, []),
        ({"q": "refund"}, ["widget"]),  # the input and the output both count
        ({"q": "nine"}, ["playground"]),
        ({"q": "'); drop table runs_run; --"}, []),  # only words reach to_tsquery
    ],
)
def test_runs_api_filters(org_a: Member, browsed: dict[str, Any], query: dict[str, str], expected: list[str]) -> None:
    names = {str(run.pk): name for name, run in browsed["runs"].items()}
    listed = _ids(org_a.client().get(f"{_base(org_a)}/runs/", query))
    assert [names[i] for i in listed] == expected


def test_runs_api_filters_by_flow_visitor_and_widget(org_a: Member, browsed: dict[str, Any]) -> None:
    client, runs = org_a.client(), browsed["runs"]
    assert _ids(client.get(f"{_base(org_a)}/runs/", {"flow": browsed["other"]["id"]})) == [str(runs["openai"].pk)]
    by_visitor = _ids(client.get(f"{_base(org_a)}/runs/", {"visitor": str(browsed["visitor"].pk)}))
    assert by_visitor == [str(runs["widget_ok"].pk), str(runs["widget"].pk)]
    assert _ids(client.get(f"{_base(org_a)}/runs/", {"widget": str(uuid.uuid4())})) == []


def test_runs_api_rows_carry_feedback_previews_and_models(org_a: Member, browsed: dict[str, Any]) -> None:
    rows = {r["id"]: r for r in org_a.client().get(f"{_base(org_a)}/runs/").json()["results"]}
    failed = rows[str(browsed["runs"]["widget"].pk)]
    assert (failed["rating"], failed["feedback_comment"]) == (-1, "It never answered")
    assert failed["input_preview"] == "Refund my parcel" and failed["output_preview"] == "Let me check the refund pol"
    assert failed["visitor_id"] == str(browsed["visitor"].pk)
    assert rows[str(browsed["runs"]["api"].pk)]["models"] == ["backup"]
    assert rows[str(browsed["runs"]["playground"].pk)]["user"] == "colleague@example.com"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"cursor": "not-a-cursor"}, None),
        ({"since": "yesterday"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"status": "exploded"}, "status"),
        ({"flow": "nope"}, "flow"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_runs_api_refuses_bad_queries(org_a: Member, query: dict[str, str], field: str | None) -> None:
    response = org_a.client().get(f"{_base(org_a)}/runs/", query)
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == ("invalid_cursor" if field is None else "invalid")
    if field:
        assert field in body["fields"]


def test_runs_api_is_tenant_scoped(org_a: Member, org_b: Member, browsed: dict[str, Any]) -> None:
    run = browsed["runs"]["widget"]
    other = org_b.client()
    assert other.get(f"{_base(org_b)}/runs/").json()["results"] == []
    assert other.get(f"{_base(org_b)}/feedback/").json()["results"] == []
    for url in (f"{_base(org_b)}/runs/{run.pk}/", f"{_base(org_a)}/runs/{run.pk}/", f"{_base(org_a)}/feedback/"):
        assert other.get(url).status_code == 404, url


def test_run_detail_explains_the_error_with_the_failing_node(org_a: Member, browsed: dict[str, Any]) -> None:
    run = browsed["runs"]["widget"]
    Run.objects.filter(pk=run.pk).update(failed_node="llm", error_message="The model sent nothing for 30 s.")
    start = T0.timestamp() + 3 * 3600
    Span.objects.create(run=run, node="in", node_type="chat_input", status="completed", started_at=start + 0.01)
    Span.objects.create(
        run=run,
        node="llm",
        node_type="llm",
        status="failed",
        started_at=start + 0.02,
        finished_at=start + 30.02,
        error_code="model_timeout",
    )
    detail = org_a.client().get(f"{_base(org_a)}/runs/{run.pk}/").json()
    assert detail["error"]["summary"] == 'Node "llm" (llm) failed: The model sent nothing for 30 s.'
    assert detail["feedback"]["comment"] == "It never answered"
    assert [(s["node"], s["offset_ms"], s["duration_ms"]) for s in detail["waterfall"]] == [
        ("in", 10.0, None),
        ("llm", 20.0, 30000.0),
    ]


def test_run_detail_waterfall_of_a_real_run(
    org_a: Member, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    from apps.runs.live import run_collect
    from apps.runs.principals import RunRequest, principal_of
    from apps.runs.start import run_start
    from apps.serving import accounting
    from apps.tenancy.access import Actor

    endpoint()
    flow = publish_flow()

    async def run_once() -> str:
        prepared = await run_start(
            principal_of(Actor(user=org_a.user, api_key=None)),
            RunRequest(flow=flow["id"], inputs={"message": "Tell me about tea"}),
        )
        await run_collect(prepared)
        await accounting.flush()  # the ledger's rows are written in the background
        return str(prepared.run.pk)

    run_id = asyncio.run(run_once())
    detail = org_a.client().get(f"{_base(org_a)}/runs/{run_id}/").json()
    steps = detail["waterfall"]
    assert [s["node"] for s in steps] == ["in", "prompt", "llm", "out"]
    offsets = [s["offset_ms"] for s in steps]
    assert offsets == sorted(offsets) and offsets[0] >= 0
    llm = steps[2]
    assert llm["duration_ms"] > 0 and llm["output_tokens"] == 12
    assert "tea" in steps[0]["output_preview"] or "tea" in steps[1]["input_preview"]
    [call] = detail["model_calls"]
    assert llm["model_calls"] == [call["id"]] and all(s["model_calls"] == [] for s in steps if s is not llm)
    assert Decimal(llm["cost"]) == Decimal(call["cost"]) == Decimal(detail["cost"]) > 0
    assert detail["error"] is None and detail["spans"][0]["node"] == "in"


def test_feedback_api_lists_comments_newest_first(org_a: Member, browsed: dict[str, Any]) -> None:
    client = org_a.client()
    everything = client.get(f"{_base(org_a)}/feedback/").json()["results"]
    assert [(f["rating"], f["comment"]) for f in everything] == [(1, ""), (-1, "It never answered")]
    down = client.get(f"{_base(org_a)}/feedback/", {"rating": "down"}).json()["results"]
    assert len(down) == 1 and down[0]["question"] == "Refund my parcel"
    assert down[0]["widget_name"] == "Help" and down[0]["run"] == str(browsed["runs"]["widget"].pk)
    commented = client.get(f"{_base(org_a)}/feedback/", {"commented": "true", "limit": "1"}).json()
    assert [f["comment"] for f in commented["results"]] == ["It never answered"] and commented["next"] is None


@pytest.fixture
def chats(org_a: Member, publish_flow: Callable[..., Any]) -> dict[str, Any]:
    """A widget visitor's conversation with a thumbs-down answer, and a member's playground chat."""
    from apps.runs.models import ChatMessage, ChatSession
    from apps.widgets.models import Conversation

    flow = publish_flow(publish=False)
    widget = Widget.objects.create(organization=org_a.organization, flow_id=flow["id"], name="Help")
    visitor = Visitor.objects.create(widget=widget)
    visited = ChatSession.objects.create(organization=org_a.organization, flow_id=flow["id"], title="Refunds")
    Conversation.objects.create(session=visited, widget=widget, visitor=visitor)
    answers = []
    for question, answer in [("Hi", "Hello! [1]"), ("Refund?", '=HYPERLINK("x") no')]:
        run = _run(org_a, flow["id"], at=T0, status="completed", session=visited, inputs={"message": question})
        WidgetRun.objects.create(run=run, widget=widget, visitor=visitor)
        ChatMessage.objects.create(session=visited, role="user", content=question, run=run)
        ChatMessage.objects.create(session=visited, role="assistant", content=answer, run=run)
        answers.append(run)
    Feedback.objects.create(run=answers[1], widget=widget, rating=-1, comment="Wrong policy")
    played = ChatSession.objects.create(organization=org_a.organization, flow_id=flow["id"], user=org_a.user)
    ChatMessage.objects.create(session=played, role="user", content="test")
    return {"visited": visited, "played": played, "widget": widget, "visitor": visitor, "answers": answers}


def test_conversations_list_filters_by_widget_and_thumbs_down(org_a: Member, chats: dict[str, Any]) -> None:
    client, url = org_a.client(), f"{_base(org_a)}/conversations/"
    everything = _ids(client.get(url))
    assert set(everything) == {str(chats["visited"].pk), str(chats["played"].pk)}
    [down] = client.get(url, {"thumbs_down": "true"}).json()["results"]
    assert (down["id"], down["thumbs_down"], down["message_count"]) == (str(chats["visited"].pk), 1, 4)
    assert (down["widget_name"], down["visitor_id"]) == ("Help", str(chats["visitor"].pk))
    assert _ids(client.get(url, {"widget": str(chats["widget"].pk)})) == [str(chats["visited"].pk)]
    assert client.get(url, {"thumbs_down": "maybe"}).status_code == 400


def test_conversation_transcript_has_feedback_inline(org_a: Member, chats: dict[str, Any]) -> None:
    body = org_a.client().get(f"{_base(org_a)}/conversations/{chats['visited'].pk}/").json()
    assert [(m["role"], m["text"]) for m in body["messages"]] == [
        ("user", "Hi"),
        ("assistant", "Hello! [1]"),
        ("user", "Refund?"),
        ("assistant", '=HYPERLINK("x") no'),
    ]
    last = body["messages"][-1]
    assert (last["rating"], last["comment"], last["run"]) == (-1, "Wrong policy", str(chats["answers"][1].pk))
    assert body["messages"][1]["rating"] is None


def test_conversations_export_jsonl_and_csv(org_a: Member, chats: dict[str, Any]) -> None:
    import csv
    import io
    import json

    client, url = org_a.client(), f"{_base(org_a)}/conversations/export/"
    jsonl = client.get(url, {"thumbs_down": "true"})
    assert jsonl.status_code == 200 and jsonl["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in jsonl.content.decode().splitlines()]
    assert [line["text"] for line in lines] == ["Hi", "Hello! [1]", "Refund?", '=HYPERLINK("x") no']
    assert lines[-1]["rating"] == -1 and lines[-1]["comment"] == "Wrong policy" and lines[-1]["widget"] == "Help"
    exported = client.get(url, {"output": "csv"})
    assert exported["Content-Disposition"] == 'attachment; filename="conversations.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert len(rows) == 5  # both conversations
    assert any(row["text"] == '\'=HYPERLINK("x") no' for row in rows)  # a formula stays text in a spreadsheet
    # An empty cell stays empty (each was a lone apostrophe): a member's chat has no widget or visitor.
    assert all(value != "'" for row in rows for value in row.values()), rows
    assert any(row["visitor"] == "" for row in rows) and any(row["comment"] == "" for row in rows)
    assert client.get(url, {"output": "xml"}).status_code == 400


def test_conversations_are_tenant_scoped(org_a: Member, org_b: Member, chats: dict[str, Any]) -> None:
    other = org_b.client()
    assert other.get(f"{_base(org_b)}/conversations/").json()["results"] == []
    assert other.get(f"{_base(org_b)}/conversations/export/").content == b""
    for url in (
        f"{_base(org_b)}/conversations/{chats['visited'].pk}/",
        f"{_base(org_a)}/conversations/{chats['visited'].pk}/",
        f"{_base(org_a)}/conversations/",
        f"{_base(org_a)}/conversations/export/",
    ):
        assert other.get(url).status_code == 404, url


def test_run_stats_per_day_flow_and_model(org_a: Member, org_b: Member, publish_flow: Callable[..., Any]) -> None:
    from django.utils import timezone

    flow = publish_flow(publish=False)
    today = timezone.now() - timedelta(seconds=5)
    yesterday = today - timedelta(days=1)
    for i, latency in enumerate([100, 200, 300, 400]):
        _run(org_a, flow["id"], at=yesterday, status="failed" if i == 0 else "completed", latency_ms=latency, cost=1)
    _run(org_a, flow["id"], at=today, status="completed", latency_ms=50, ttft_ms=10, input_tokens=5, output_tokens=7)
    _run(org_a, flow["id"], at=today - timedelta(days=30), status="failed")  # outside the window
    ModelCall.objects.create(
        organization=org_a.organization, alias="gpt", served_by="gpt", status="ok", ttft_ms=10, cost=2, at=today
    )
    body = org_a.client().get(f"{_base(org_a)}/runs/stats/", {"days": "7"}).json()
    assert (body["total"]["runs"], body["total"]["failed"], body["total"]["error_rate"]) == (5, 1, 20.0)
    assert [(d["runs"], d["error_rate"]) for d in body["days"]] == [(4, 25.0), (1, 0.0)]
    # Percentiles come from histograms (apps/observability/rollups.py): within 10% of the value.
    assert body["days"][0]["p50_latency_ms"] == pytest.approx(200, rel=0.1) and Decimal(body["days"][0]["cost"]) == 4
    assert body["days"][1]["p95_ttft_ms"] == pytest.approx(10, rel=0.1) and body["days"][1]["output_tokens"] == 7
    assert [(f["flow_name"], f["runs"]) for f in body["flows"]] == [(flow["name"], 5)]
    assert [(m["alias"], m["calls"], m["cost"]) for m in body["models"]] == [("gpt", 1, "2.000000")]
    assert org_a.client().get(f"{_base(org_a)}/runs/stats/", {"days": "0"}).status_code == 400
    assert org_b.client().get(f"{_base(org_a)}/runs/stats/").status_code == 404
    assert org_b.client().get(f"{_base(org_b)}/runs/stats/").json()["total"]["runs"] == 0


def test_runs_api_filters_evaluation_samples_by_their_source(org_a: Member, publish_flow: Callable[..., Any]) -> None:
    """An evaluation's samples are runs of their own source (apps.evaluation), listed and filtered
    like the others (before it was a Run.Source choice, `source=evaluation` answered 400)."""
    flow = publish_flow()
    sample = _run(org_a, flow["id"], at=T0, source=Run.Source.EVALUATION, status="completed")
    _run(org_a, flow["id"], at=T0 + timedelta(hours=1), source="api", status="completed")
    assert _ids(org_a.client().get(f"{_base(org_a)}/runs/", {"source": "evaluation"})) == [str(sample.pk)]
    assert org_a.client().get(f"{_base(org_a)}/runs/", {"source": "nightly"}).status_code == 400
