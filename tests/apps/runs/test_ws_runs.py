"""Runs over the WebSocket (the real ASGI app, a real stand-in model server, the real database)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import orjson
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from pydantic import Field, TypeAdapter

from apps.config.asgi import application
from apps.runs import remote, replay
from apps.runs.models import ChatMessage, Run, RunEvent, Span
from apps.runs.protocol import ErrorEvent, RunSocketMessage
from apps.serving.clients import async_http_client
from tests.conftest import Member
from tests.flows.graphs import chat_flow
from tests.support.asgi_server import uvicorn_serving
from tests.support.standin import reply_tokens

pytestmark = pytest.mark.django_db(transaction=True)
TERMINAL = {"run.finished", "run.failed", "run.cancelled"}

SOCKET_MESSAGE: TypeAdapter[Any] = TypeAdapter(Annotated[RunSocketMessage, Field(discriminator="type")])


async def connect(raw_key: str) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(
        application, "/ws/", headers=[(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {raw_key}".encode())]
    )
    connected, _ = await ws.connect()
    assert connected
    return ws


async def until_terminal(ws: WebsocketCommunicator, timeout: float = 20) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        event = await ws.receive_json_from(timeout=timeout)
        events.append(event)
        if event["type"] in TERMINAL or event["type"] == "error":
            return events


async def slow_run_streaming(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """A socket with a long run (400 tokens at 20/s) that has sent its first token, and the run's
    first event."""
    await database_sync_to_async(endpoint)(alias="slow", model="standin-rate-20-n-400")
    flow = await database_sync_to_async(publish_flow)(alias="slow")
    ws = await connect(key)
    await ws.send_json_to({"type": "run.start", "flow": flow["id"], "inputs": {"message": "hi"}})
    first = await ws.receive_json_from(timeout=10)
    while (await ws.receive_json_from(timeout=10))["type"] != "token":
        pass
    return ws, first


@pytest.fixture
def key(org_a: Member, api_key_for: Callable[..., str]) -> str:
    return api_key_for(org_a, "editor")


async def test_ws_run_streams_tokens_and_persists_run_spans_and_usage(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    await database_sync_to_async(endpoint)()
    flow = await database_sync_to_async(publish_flow)()
    ws = await connect(key)
    await ws.send_json_to({"type": "run.start", "flow": flow["id"], "inputs": {"message": "hello"}, "ref": "r1"})
    events = await until_terminal(ws)
    assert events[0]["type"] == "run.started" and events[0]["ref"] == "r1"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    for event in events:  # every event is what the published types (apps.runs.protocol) say
        assert type(SOCKET_MESSAGE.validate_python(event)).__name__.endswith("Event"), event
    tokens = [e["data"]["text"] for e in events if e["type"] == "token"]
    assert "".join(tokens) == "".join(reply_tokens(12))  # (tokens read together travel as one event)
    assert events[-1]["type"] == "run.finished"
    run = await Run.objects.aget(pk=events[0]["run"])
    assert run.status == "completed"
    assert run.output_text == "".join(tokens)
    assert run.output_tokens == 12 and run.input_tokens > 0
    assert run.cost > 0
    assert run.ttft_ms is not None and run.last_seq == events[-1]["seq"]
    spans = {s.node: s async for s in Span.objects.filter(run=run)}
    assert set(spans) == {"in", "prompt", "llm", "out"}
    assert spans["llm"].output_tokens == 12 and spans["llm"].status == "completed"
    assert await RunEvent.objects.filter(run=run).acount() < len(events)  # tokens are batched into rows
    roles = [m.role async for m in ChatMessage.objects.filter(session_id=run.session_id)]
    assert roles == ["user", "assistant"]
    await ws.disconnect()


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"type": "run.start"}, "invalid_message"),
        ({"type": "run.start", "flow": "not-a-uuid"}, "invalid_message"),
        ({"type": "run.start", "flow": str(uuid.uuid4()), "graph": {"nodes": []}}, "invalid_message"),
        ({"type": "run.start", "flow": str(uuid.uuid4()), "inputs": {"message": "x" * 100_001}}, "invalid_message"),
        ({"type": "run.start", "flow": str(uuid.uuid4())}, "flow_not_found"),
        ({"type": "teleport"}, "unknown_message_type"),
        (["run.start"], "invalid_message"),
    ],
)
async def test_ws_bad_run_start_gets_error_event_and_creates_nothing(key: str, message: Any, code: str) -> None:
    ws = await connect(key)
    await ws.send_json_to(message)
    event = await ws.receive_json_from(timeout=10)
    assert event["type"] == "error" and event["code"] == code, event
    assert isinstance(SOCKET_MESSAGE.validate_python(event), ErrorEvent)
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from(timeout=10) == {"type": "pong"}  # still serving
    assert await Run.objects.acount() == 0
    await ws.disconnect()


async def test_ws_other_tenants_flow_is_not_found(
    org_b: Member, key: str, api_key_for: Callable[..., str], standin_url: str
) -> None:
    def make_foreign_flow() -> str:
        client = org_b.client()
        response = client.post(f"/api/v1/orgs/{org_b.organization.id}/flows/", {"name": "theirs"}, format="json")
        return str(response.json()["id"])

    foreign = await database_sync_to_async(make_foreign_flow)()
    ws = await connect(key)
    for version in ("published", "draft", 1):
        await ws.send_json_to({"type": "run.start", "flow": foreign, "version": version, "inputs": {"message": "x"}})
        event = await ws.receive_json_from(timeout=10)
        assert event["code"] == "flow_not_found"
    assert await Run.objects.acount() == 0


async def test_ws_draft_with_cycle_is_flow_invalid_and_no_run(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    graph = chat_flow(model="standin")
    graph["edges"].append(
        {"id": "back", "source": "llm", "source_port": "text", "target": "prompt", "target_port": "question"}
    )
    flow = await database_sync_to_async(publish_flow)(graph=graph, publish=False)
    ws = await connect(key)
    await ws.send_json_to({"type": "run.start", "flow": flow["id"], "version": "draft", "inputs": {"message": "x"}})
    event = await ws.receive_json_from(timeout=10)
    assert event["code"] == "flow_invalid"
    assert {i["code"] for i in event["issues"]} == {"graph.cycle"}
    await ws.send_json_to({"type": "run.start", "flow": flow["id"], "inputs": {"message": "x"}})
    assert (await ws.receive_json_from(timeout=10))["code"] == "not_published"
    assert await Run.objects.acount() == 0


async def test_ws_model_dies_mid_stream_fails_run_keeps_partial_text_and_keeps_serving(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    await database_sync_to_async(endpoint)(alias="dying", model="standin-die-3")
    await database_sync_to_async(endpoint)()
    dying = await database_sync_to_async(publish_flow)(alias="dying")
    healthy = await database_sync_to_async(publish_flow)()
    ws = await connect(key)
    await ws.send_json_to({"type": "run.start", "flow": dying["id"], "inputs": {"message": "hi"}})
    events = await until_terminal(ws)
    assert events[-1]["type"] == "run.failed"
    assert events[-1]["data"]["code"] == "model_unavailable"
    assert events[-1]["data"]["node"] == "llm"
    run = await Run.objects.aget(pk=events[0]["run"])
    assert run.status == "failed" and run.failed_node == "llm"
    assert run.output_text == "alpha bravo charlie"
    await ws.send_json_to({"type": "run.start", "flow": healthy["id"], "inputs": {"message": "again"}})
    assert (await until_terminal(ws))[-1]["type"] == "run.finished"


async def test_ws_stalled_model_times_out_within_idle_timeout(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    await database_sync_to_async(endpoint)(alias="stalling", model="standin-stall-2", idle_timeout_s=1)
    flow = await database_sync_to_async(publish_flow)(alias="stalling")
    ws = await connect(key)
    started = time.perf_counter()
    await ws.send_json_to({"type": "run.start", "flow": flow["id"], "inputs": {"message": "hi"}})
    events = await until_terminal(ws)
    assert time.perf_counter() - started < 5
    assert events[-1]["data"]["code"] == "model_timeout"
    run = await Run.objects.aget(pk=events[0]["run"])
    assert run.output_text == "alpha bravo"


async def test_ws_cancel_stops_the_run_within_a_second(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    ws, first = await slow_run_streaming(key, endpoint, publish_flow)
    started = time.perf_counter()
    await ws.send_json_to({"type": "run.cancel", "run": first["run"]})
    events = await until_terminal(ws)
    assert events[-1]["type"] == "run.cancelled"
    assert time.perf_counter() - started < 1
    await asyncio.sleep(0.3)
    run = await Run.objects.aget(pk=first["run"])
    assert run.status == "cancelled"


async def test_ws_reconnect_resumes_after_sequence_number(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    await database_sync_to_async(endpoint)(alias="paced", model="standin-rate-40-n-30")
    flow = await database_sync_to_async(publish_flow)(alias="paced")
    ws = await connect(key)
    await ws.send_json_to({"type": "run.start", "flow": flow["id"], "inputs": {"message": "hi"}})
    seen = [await ws.receive_json_from(timeout=10) for _ in range(10)]
    await ws.disconnect()  # the network drops; the run goes on
    ws2 = await connect(key)
    await ws2.send_json_to({"type": "run.resume", "run": seen[0]["run"], "after": seen[-1]["seq"]})
    rest = await until_terminal(ws2)
    seqs = [e["seq"] for e in seen + rest]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing repeated
    tokens = "".join(e["data"]["text"] for e in seen + rest if e["type"] == "token")
    run = await Run.objects.aget(pk=seen[0]["run"])
    assert run.output_text == tokens and len(tokens.split()) == 30
    # After it finished and left memory, the database replays the same events.
    ws3 = await connect(key)
    await ws3.send_json_to({"type": "run.resume", "run": seen[0]["run"], "after": 0})
    replay = await until_terminal(ws3)
    assert [e["seq"] for e in replay] == seqs


async def test_ws_a_cancel_notified_through_postgres_stops_the_run_held_here(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    """What another web worker does for a run it does not hold: NOTIFY; this process cancels it."""
    ws, first = await slow_run_streaming(key, endpoint, publish_flow)
    started = time.perf_counter()
    await database_sync_to_async(remote.notify_cancel)(first["run"])
    events = await until_terminal(ws)
    assert events[-1]["type"] == "run.cancelled" and time.perf_counter() - started < 1
    await database_sync_to_async(remote.notify_cancel)(first["run"])  # too late: nothing happens
    await database_sync_to_async(remote.notify_cancel)("not a run")
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from(timeout=5) == {"type": "pong"}


async def test_following_a_run_from_the_database_gives_the_live_events(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    """Another worker's view of a run executing here: the stored events, then each new batch."""
    await database_sync_to_async(endpoint)(alias="paced", model="standin-rate-30-n-20")
    flow = await database_sync_to_async(publish_flow)(alias="paced")
    ws = await connect(key)
    await ws.send_json_to({"type": "run.start", "flow": flow["id"], "inputs": {"message": "hi"}})
    first = await ws.receive_json_from(timeout=10)
    stored = asyncio.ensure_future(_collect(replay.follow_stored(first["run"], 0)))
    live = [first, *await until_terminal(ws)]
    followed = await asyncio.wait_for(stored, 10)
    assert [(e["seq"], e["type"]) for e in followed] == [(e["seq"], e["type"]) for e in live]
    assert [e["data"] for e in followed if e["type"] == "token"] == [e["data"] for e in live if e["type"] == "token"]


async def test_following_a_run_whose_worker_died_ends_with_its_failure(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    await database_sync_to_async(endpoint)()
    flow = await database_sync_to_async(publish_flow)()
    ws = await connect(key)
    await ws.send_json_to({"type": "run.start", "flow": flow["id"], "inputs": {"message": "hi"}})
    events = await until_terminal(ws)
    run_id = events[0]["run"]
    # As if its process had died before the last write: no terminal row, failed by the reaper.
    await RunEvent.objects.filter(run_id=run_id, type="run.finished").adelete()
    await Run.objects.filter(pk=run_id).aupdate(
        status="failed", error_code="worker_lost", error_message="The process stopped."
    )
    followed = await asyncio.wait_for(_collect(replay.follow_stored(run_id, 0)), 10)
    assert [e["seq"] for e in followed] == [e["seq"] for e in events]
    assert followed[-1]["type"] == "run.failed" and followed[-1]["data"]["code"] == "worker_lost"


async def _collect(events: Any) -> list[dict[str, Any]]:
    return [event async for event in events]


async def test_ws_run_row_is_written_before_the_first_token_reaches_the_client(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    """The live socket starts the model call while the run's row is being written (run_start
    early=True); the first event still waits for the row."""
    await database_sync_to_async(endpoint)()
    flow = await database_sync_to_async(publish_flow)()
    ws = await connect(key)
    await ws.send_json_to({"type": "run.start", "flow": flow["id"], "inputs": {"message": "hello"}})
    first = await ws.receive_json_from(timeout=20)
    run = await Run.objects.select_related("session").aget(pk=first["run"])
    assert run.session is not None and run.session.title == "hello"
    assert [m.role async for m in ChatMessage.objects.filter(session_id=run.session_id)] == ["user"]
    events = [first, *await until_terminal(ws)]
    assert events[-1]["type"] == "run.finished"
    await ws.disconnect()


async def test_ws_a_message_the_database_refuses_fails_the_run_and_the_socket_keeps_serving(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    await database_sync_to_async(endpoint)()
    flow = await database_sync_to_async(publish_flow)()
    ws = await connect(key)
    await ws.send_json_to({"type": "run.start", "flow": flow["id"], "inputs": {"message": "a\u0000b"}})
    [event] = await until_terminal(ws)
    # The rows are written while the run starts (early): their failure ends the run, never silence.
    assert event["type"] == "run.failed" and event["data"]["code"] == "invalid_input", event
    assert await Run.objects.filter(flow_id=flow["id"]).acount() == 0
    await ws.send_json_to({"type": "run.start", "flow": flow["id"], "inputs": {"message": "hello"}})
    assert (await until_terminal(ws))[-1]["type"] == "run.finished"
    await ws.disconnect()


async def test_ws_a_streaming_run_shows_its_progress_and_worker_before_it_ends(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    """The recorder moves the streaming runs' last_seq and heartbeat forward in one statement
    every PROGRESS_INTERVAL; the reaper relies on the heartbeat."""
    from apps.runs.recorder import PROGRESS_INTERVAL, WORKER

    await database_sync_to_async(endpoint)(alias="paced", model="standin-rate-30-n-150")
    flow = await database_sync_to_async(publish_flow)(alias="paced")
    ws = await connect(key)
    await ws.send_json_to({"type": "run.start", "flow": flow["id"], "inputs": {"message": "hi"}})
    seen = [await ws.receive_json_from(timeout=10) for _ in range(12)]
    await asyncio.sleep(PROGRESS_INTERVAL + 0.5)  # a progress write and a flush after it
    run = await Run.objects.aget(pk=seen[0]["run"])
    assert run.status == Run.Status.RUNNING
    assert run.last_seq >= seen[-1]["seq"] and run.heartbeat_at is not None and run.worker == WORKER
    rest = await until_terminal(ws)
    run = await Run.objects.aget(pk=seen[0]["run"])
    assert run.status == Run.Status.COMPLETED and run.last_seq == rest[-1]["seq"]
    await ws.disconnect()


async def test_ws_a_session_continues_in_its_organization_only(
    key: str,
    org_b: Member,
    api_key_for: Callable[..., str],
    standin_url: str,
    endpoint: Callable[..., Any],
    publish_flow: Callable[..., Any],
) -> None:
    """A run start reads the session (and its history) in the same statement as the flow, scoped
    by the flow's organization: a session id from another organization is not found."""
    await database_sync_to_async(endpoint)(alias="echo", model="standin-echo")
    flow = await database_sync_to_async(publish_flow)(alias="echo")
    ws = await connect(key)
    await ws.send_json_to({"type": "run.start", "flow": flow["id"], "inputs": {"message": "first words"}})
    first = await until_terminal(ws)
    session = (await Run.objects.aget(pk=first[0]["run"])).session_id
    await ws.send_json_to(
        {"type": "run.start", "flow": flow["id"], "inputs": {"message": "second"}, "session": str(session)}
    )
    second = await until_terminal(ws)
    assert second[-1]["type"] == "run.finished"
    assert (await Run.objects.aget(pk=second[0]["run"])).session_id == session
    messages = [(m.role, m.content) async for m in ChatMessage.objects.filter(session_id=session)]
    assert [role for role, _ in messages] == ["user", "assistant", "user", "assistant"]
    assert [text for role, text in messages if role == "user"] == ["first words", "second"]

    def org_b_flow() -> dict[str, Any]:
        client, base = org_b.client(), f"/api/v1/orgs/{org_b.organization.id}"
        model = {"alias": "echo", "name": "echo", "kind": "chat", "base_url": standin_url, "model": "standin-echo"}
        assert client.post(f"{base}/models/", model, format="json").status_code == 201
        created = client.post(f"{base}/flows/", {"name": "b", "graph": chat_flow(model="echo")}, format="json").json()
        assert client.post(f"{base}/flows/{created['id']}/versions/", {"note": "v1"}, format="json").status_code == 201
        return dict(created)

    flow_b = await database_sync_to_async(org_b_flow)()
    other = await connect(await database_sync_to_async(api_key_for)(org_b, "editor"))
    await other.send_json_to(
        {"type": "run.start", "flow": flow_b["id"], "inputs": {"message": "x"}, "session": str(session)}
    )
    refused = await other.receive_json_from(timeout=10)
    assert refused["type"] == "error" and refused["code"] == "session_not_found"
    assert not await Run.objects.filter(flow_id=flow_b["id"]).aexists()
    await ws.disconnect()
    await other.disconnect()


async def test_under_uvicorn_token_frames_go_straight_to_the_transport(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The production server (uvicorn, no compression) and a real client: the socket's events are
    written as frames directly (apps/config/wsdirect.py) and arrive whole and in order."""
    from websockets.asyncio.client import connect as ws_connect

    await database_sync_to_async(endpoint)()
    flow = await database_sync_to_async(publish_flow)()
    events: list[dict[str, Any]] = []
    with caplog.at_level(logging.DEBUG, logger="apps.config.wsdirect"):
        async with (
            uvicorn_serving(application) as port,
            ws_connect(
                f"ws://127.0.0.1:{port}/ws/", additional_headers={"Authorization": f"Bearer {key}"}, compression=None
            ) as client,
        ):
            start = {"type": "run.start", "flow": flow["id"], "inputs": {"message": "hello"}}
            await client.send(orjson.dumps(start).decode())
            while not events or events[-1]["type"] not in TERMINAL:
                events.append(orjson.loads(await asyncio.wait_for(client.recv(), 20)))
    assert events[-1]["type"] == "run.finished"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert "".join(e["data"]["text"] for e in events if e["type"] == "token") == "".join(reply_tokens(12))
    assert "events go onto uvicorn's transport as text frames" in caplog.text


async def test_ws_paced_tokens_arrive_joined_and_resume_replays_exactly_what_was_sent(
    key: str, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    """Under load the model's reads after the first token are paced (apps.serving.httpstream.Pacer;
    here from the first open stream, every 0.1 s): tokens read meanwhile reach the socket as one
    event. Nothing is lost or reordered, the first token comes alone, and a resume from the
    database replays the very events that were sent."""
    pacer = async_http_client().pacer
    saved = pacer.interval, pacer.threshold
    pacer.interval, pacer.threshold = 0.1, 1
    try:
        await database_sync_to_async(endpoint)(alias="quick", model="standin-rate-100-n-40")
        flow = await database_sync_to_async(publish_flow)(alias="quick")
        ws = await connect(key)
        await ws.send_json_to({"type": "run.start", "flow": flow["id"], "inputs": {"message": "hi"}})
        sent = await until_terminal(ws)
    finally:
        pacer.interval, pacer.threshold = saved
    assert sent[-1]["type"] == "run.finished"
    assert [e["seq"] for e in sent] == list(range(1, len(sent) + 1))
    tokens = [e["data"]["text"] for e in sent if e["type"] == "token"]
    assert "".join(tokens) == "".join(reply_tokens(40))
    assert len(tokens[0].split()) == 1  # the first token is never held back
    assert len(tokens) <= 15, tokens  # 0.4 s of tokens at 100/s: a few ticks' worth (unpaced: ~40 events)
    assert pacer.open == 0
    ws2 = await connect(key)
    await ws2.send_json_to({"type": "run.resume", "run": sent[0]["run"], "after": 0})
    replayed = await until_terminal(ws2)
    shown = [(e["seq"], e["type"], e["data"].get("text")) for e in sent]
    assert [(e["seq"], e["type"], e["data"].get("text")) for e in replayed] == shown
    await ws.disconnect()
    await ws2.disconnect()
