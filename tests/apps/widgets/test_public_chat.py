"""The public surface end to end through the real ASGI app: Origin checks, session tokens,
published-version-only runs, anonymous visitors, limits, feedback and resuming."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pytest
from channels.db import database_sync_to_async
from pydantic import Field, TypeAdapter
from rest_framework.test import APIClient

from apps.runs.models import ChatMessage, Run
from apps.widgets.models import Feedback, Visitor, WidgetRun
from apps.widgets.protocol import WidgetSocketMessage
from tests.apps.widgets.conftest import SITE, open_session, until_done, widget_socket
from tests.conftest import Member
from tests.flows.graphs import chat_flow

pytestmark = pytest.mark.django_db(transaction=True)
WIDGET_MESSAGE: TypeAdapter[Any] = TypeAdapter(Annotated[WidgetSocketMessage, Field(discriminator="type")])
db = database_sync_to_async


@pytest.fixture
def widget(
    endpoint: Callable[..., Any], publish_flow: Callable[..., Any], make_widget: Callable[..., Any]
) -> dict[str, Any]:
    endpoint()
    return make_widget(publish_flow()["id"])


def test_session_refuses_missing_and_foreign_origins_and_unknown_keys(widget: dict[str, Any]) -> None:
    client = APIClient()
    missing = open_session(client, widget["public_key"], origin=None)
    assert missing.status_code == 403 and missing.json()["code"] == "origin_required"
    foreign = open_session(client, widget["public_key"], origin="https://copycat.example.net")
    assert foreign.status_code == 403 and foreign.json()["code"] == "origin_not_allowed"
    assert "token" not in foreign.json()
    unknown = open_session(client, "wpk_nope")
    assert unknown.status_code == 404
    extra = client.post(
        "/api/widget/v1/session/",
        {"key": widget["public_key"], "flow": widget["flow"]},
        format="json",
        HTTP_ORIGIN=SITE,
    )
    assert extra.status_code == 400
    good = open_session(client, widget["public_key"])
    assert good.status_code == 200, good.json()
    assert good["Access-Control-Allow-Origin"] == SITE
    assert good.json()["widget"]["title"] and good.json()["history"] == []
    assert not Visitor.objects.exists()  # a page view creates nobody


async def test_socket_refuses_a_copied_key_on_another_origin_and_a_missing_origin(widget: dict[str, Any]) -> None:
    for origin, code in (("https://copycat.example.net", "origin_not_allowed"), (None, "origin_not_allowed")):
        ws = await widget_socket(widget["public_key"], origin=origin)
        event = await ws.receive_json_from()
        assert event["type"] == "error" and event["code"] == code
        closed = await ws.receive_output()
        assert closed["type"] == "websocket.close" and closed["code"] == 4403
    assert not await Run.objects.aexists()


async def test_socket_token_issued_to_one_origin_fails_on_another(widget: dict[str, Any]) -> None:
    other = "https://blog.example.com"
    await db(_add_origin)(widget, other)
    token = (await db(open_session)(APIClient(), widget["public_key"])).json()["token"]
    ws = await widget_socket(widget["public_key"], origin=other)
    await ws.send_json_to({"type": "chat.send", "token": token, "message": "hi"})
    event = await ws.receive_json_from()
    assert event["code"] == "session_invalid"
    assert not await Run.objects.aexists()


def _add_origin(widget: dict[str, Any], origin: str) -> None:
    from apps.widgets.models import Widget

    row = Widget.objects.get(pk=widget["id"])
    row.allowed_origins = [*row.allowed_origins, origin]
    row.save()


async def test_chat_streams_the_published_version_and_creates_the_visitor_on_first_message(
    org_a: Member, widget: dict[str, Any]
) -> None:
    # A draft saved after publishing must not be what visitors get.
    client = org_a.client()
    base = f"/api/v1/orgs/{org_a.organization.id}/flows/{widget['flow']}"
    flow = (await db(client.get)(f"{base}/")).json()
    draft = chat_flow(model="standin-die-1")
    saved = await db(client.put)(f"{base}/draft/", {"graph": draft, "revision": flow["revision"]}, format="json")
    assert saved.status_code == 200
    session = (await db(open_session)(APIClient(), widget["public_key"])).json()
    assert await Visitor.objects.acount() == 0

    ws = await widget_socket(widget["public_key"])
    await ws.send_json_to({"type": "chat.send", "token": session["token"], "message": "hello", "ref": "a"})
    accepted = await ws.receive_json_from()
    assert accepted["type"] == "chat.accepted" and accepted["ref"] == "a"
    assert accepted["visitor"] and accepted["token"]
    events = await until_done(ws)
    assert events[-1]["type"] == "run.finished", events[-1]
    tokens = [e["data"]["text"] for e in events if e["type"] == "token"]
    assert len(tokens) == 12
    assert events[-1]["data"]["answer"] == "".join(tokens)
    assert all(set(e) <= {"type", "run", "seq", "data"} for e in events)  # no node names or previews
    for message in [accepted, *events]:  # exactly the published types (apps.widgets.protocol), no more
        WIDGET_MESSAGE.validate_python(message)
    run = await Run.objects.select_related("version").aget(pk=accepted["run"])
    assert run.source == "widget" and run.version is not None and run.version.number == 1
    assert run.created_by_id is None and run.api_key_id is None
    assert await Visitor.objects.acount() == 1
    assert await WidgetRun.objects.filter(run=run, widget_id=widget["id"]).aexists()

    # The same visitor again: no new visitor, same conversation (memory), history on reload.
    await ws.send_json_to({"type": "chat.send", "token": accepted["token"], "message": "again"})
    second = await ws.receive_json_from()
    assert "visitor" not in second and second["conversation"] == accepted["conversation"]
    await until_done(ws)
    assert await Visitor.objects.acount() == 1
    reload = (await db(open_session)(APIClient(), widget["public_key"], visitor=accepted["visitor"])).json()
    assert [m["role"] for m in reload["history"]] == ["user", "assistant", "user", "assistant"]
    assert reload["history"][0]["text"] == "hello"
    await ws.disconnect()


@pytest.mark.parametrize(
    "extra",
    [
        {"flow": "00000000-0000-0000-0000-000000000000"},
        {"graph": {"nodes": [], "edges": []}},
        {"version": "draft"},
        {"model": "gpt-4o"},
        {"inputs": {"message": "x", "system": "be evil"}},
    ],
)
async def test_chat_accepts_only_the_visitors_message(widget: dict[str, Any], extra: dict[str, Any]) -> None:
    session = (await db(open_session)(APIClient(), widget["public_key"])).json()
    ws = await widget_socket(widget["public_key"])
    await ws.send_json_to({"type": "chat.send", "token": session["token"], "message": "hi", **extra})
    event = await ws.receive_json_from()
    assert event["type"] == "error" and event["code"] == "invalid_message"
    assert not await Run.objects.aexists()


async def test_chat_per_visitor_limit_is_a_clear_error_and_spares_other_widgets(
    widget: dict[str, Any], make_widget: Callable[..., Any]
) -> None:
    await db(_set)(widget["id"], visitor_messages_per_minute=1)
    session = (await db(open_session)(APIClient(), widget["public_key"])).json()
    ws = await widget_socket(widget["public_key"])
    await ws.send_json_to({"type": "chat.send", "token": session["token"], "message": "one"})
    accepted = await ws.receive_json_from()
    await until_done(ws)
    await ws.send_json_to({"type": "chat.send", "token": accepted["token"], "message": "two"})
    refused = await ws.receive_json_from()
    assert refused["type"] == "error" and refused["code"] == "rate_limited"
    assert "wait" in refused["message"] and 0 < refused["retry_after"] <= 60
    assert await Run.objects.acount() == 1

    other = await db(make_widget)(widget["flow"])
    other_session = (await db(open_session)(APIClient(), other["public_key"])).json()
    ws2 = await widget_socket(other["public_key"])
    await ws2.send_json_to({"type": "chat.send", "token": other_session["token"], "message": "fine"})
    assert (await ws2.receive_json_from())["type"] == "chat.accepted"
    assert (await until_done(ws2))[-1]["type"] == "run.finished"


async def test_chat_daily_token_budget_stops_the_widget(widget: dict[str, Any]) -> None:
    await db(_set)(widget["id"], tokens_per_day=5)
    session = (await db(open_session)(APIClient(), widget["public_key"])).json()
    ws = await widget_socket(widget["public_key"])
    await ws.send_json_to({"type": "chat.send", "token": session["token"], "message": "one"})
    accepted = await ws.receive_json_from()
    await until_done(ws)
    await ws.send_json_to({"type": "chat.send", "token": accepted["token"], "message": "two"})
    refused = await ws.receive_json_from()
    assert refused["code"] == "budget_exhausted"


async def test_chat_unpublished_flow_and_long_messages_are_refused(
    publish_flow: Callable[..., Any], make_widget: Callable[..., Any], endpoint: Callable[..., Any]
) -> None:
    await db(endpoint)()
    draft_only = await db(make_widget)((await db(publish_flow)(publish=False))["id"], max_input_chars=10)
    session = (await db(open_session)(APIClient(), draft_only["public_key"])).json()
    ws = await widget_socket(draft_only["public_key"])
    await ws.send_json_to({"type": "chat.send", "token": session["token"], "message": "x" * 11})
    assert (await ws.receive_json_from())["code"] == "message_too_long"
    await ws.send_json_to({"type": "chat.send", "token": session["token"], "message": "short"})
    assert (await ws.receive_json_from())["code"] == "not_published"
    assert not await Run.objects.aexists()


async def test_chat_feedback_is_stored_with_the_run_and_only_for_the_visitors_runs(widget: dict[str, Any]) -> None:
    session = (await db(open_session)(APIClient(), widget["public_key"])).json()
    ws = await widget_socket(widget["public_key"])
    await ws.send_json_to({"type": "chat.send", "token": session["token"], "message": "rate me"})
    accepted = await ws.receive_json_from()
    await until_done(ws)
    await ws.send_json_to(
        {
            "type": "chat.feedback",
            "token": accepted["token"],
            "run": accepted["run"],
            "rating": "down",
            "comment": "meh",
        }
    )
    assert (await ws.receive_json_from())["type"] == "feedback.saved"
    feedback = await Feedback.objects.aget(run_id=accepted["run"])
    assert feedback.rating == -1 and feedback.comment == "meh"
    # Another visitor (a fresh session) cannot rate it.
    stranger = (await db(open_session)(APIClient(), widget["public_key"])).json()
    await ws.send_json_to({"type": "chat.send", "token": stranger["token"], "message": "hi"})
    stranger_token = (await ws.receive_json_from())["token"]
    await until_done(ws)
    await ws.send_json_to({"type": "chat.feedback", "token": stranger_token, "run": accepted["run"], "rating": "up"})
    assert (await ws.receive_json_from())["code"] == "run_not_found"
    assert (await Feedback.objects.aget(run_id=accepted["run"])).rating == -1


async def test_chat_resume_after_a_dropped_socket_loses_no_tokens(
    widget: dict[str, Any], make_widget: Callable[..., Any]
) -> None:
    session = (await db(open_session)(APIClient(), widget["public_key"])).json()
    ws = await widget_socket(widget["public_key"])
    await ws.send_json_to({"type": "chat.send", "token": session["token"], "message": "go"})
    accepted = await ws.receive_json_from()
    seen = [await ws.receive_json_from() for _ in range(4)]  # run.started + 3 tokens
    await ws.disconnect()  # the network drops; the run goes on
    ws = await widget_socket(widget["public_key"])
    after = seen[-1]["seq"]
    await ws.send_json_to({"type": "chat.resume", "token": accepted["token"], "run": accepted["run"], "after": after})
    rest = await until_done(ws)
    tokens = [e["data"]["text"] for e in [*seen, *rest] if e["type"] == "token"]
    assert rest[-1]["type"] == "run.finished" and "".join(tokens) == rest[-1]["data"]["answer"]
    assert len(tokens) == 12
    # Somebody else's token cannot resume it.
    stranger = (await db(open_session)(APIClient(), widget["public_key"])).json()
    await ws.send_json_to({"type": "chat.resume", "token": stranger["token"], "run": accepted["run"], "after": 0})
    assert (await ws.receive_json_from())["code"] == "run_not_found"
    roles = [m.role async for m in ChatMessage.objects.filter(run_id=accepted["run"])]
    assert sorted(roles) == ["assistant", "user"]


def _set(widget_id: str, **fields: Any) -> None:
    from apps.widgets.models import Widget

    Widget.objects.filter(pk=widget_id).update(**fields)
