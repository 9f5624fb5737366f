"""The model-read path alone: CPU per streamed token from the socket to the chunk the LLM node gets.

    .venv/bin/python tests/bench/bench_stream_read.py [--streams 300] [--tokens 300] [--rate 30]
                                                      [--pace-ms 0] [--rounds 3] [--code DIR ...]

The stand-in model server (tests/support/standin.py) streams --streams replies of --tokens tokens
at --rate tokens/s each (0: as fast as it can); this process reads them all at once through
`apps.serving.streaming.OpenAIStreamingChat.astream_chunks` on `apps.serving.httpstream.HttpPool`
(uvloop), the way a web worker reads its model streams, and counts the CPU time it spent (user +
system, `time.process_time`) per token and per chunk handed on. --pace-ms N paces every stream as
a loaded worker does (ADR 0005, `Pacer`).

This is the part of a streamed token's cost that issue 15's "a socket read, an event-loop wake-up
and a line parse" names, without the engine, the recorder or the socket frame. `--code DIR`
(repeatable) runs the same measurement with each DIR first on sys.path (a worktree of another
commit), alternating DIRs round by round; the stand-in's own CPU is in another process and not
counted.

`--no-socket` leaves the socket and the stand-in out: one stream's HTTP bytes (chunked SSE, the
stand-in's token event) are fed to the connection's protocol callbacks by the event loop, one
token per loop turn, and the same reader takes them (--tokens per run, the best of --repeat runs
in each round). What is left is the Python of the path, the part a code change moves; on a
shared machine the best of many runs is steadier than the socket figures.

`--relay` measures each round twice: the reader as above, then with `on_text` given (the LLM
node's way since wave 3 session 15: plain text that arrives while the reader waits goes to
`on_text` through apps.serving.streaming.TextRelay, past the reader); a relayed piece of text
counts as a chunk handed on.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

from benchlib import free_port, wait_ok

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import httpx, uvloop
    from pydantic import SecretStr
    from langchain_core.messages import HumanMessage
    from apps.serving.httpstream import HttpPool
    from apps.serving.streaming import OpenAIStreamingChat

    def syscalls_read():
        # read(2) calls of this process (/proc/self/io): the event loop reads sockets with read()
        with open("/proc/self/io") as io:
            return next(int(line.split()[1]) for line in io if line.startswith("syscr"))

    base, rate = sys.argv[1], sys.argv[4]
    streams, tokens, pace_ms = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[5])
    relay = sys.argv[6] == "1"

    async def main():
        pool = HttpPool(pace_s=pace_ms / 1000, pace_streams=1)
        chat = OpenAIStreamingChat(alias="standin", base_url=base, model_name=f"standin-rate-{rate}-n-{tokens}",
                                   api_key=SecretStr("x"), timeout=httpx.Timeout(30.0), async_client=pool)
        counts = [0, 0]

        def on_text(text, pieces):
            counts[0] += pieces
            counts[1] += 1

        extra = {"on_text": on_text} if relay else {}

        async def one():
            async for chunk in chat.astream_chunks([HumanMessage("hi")], **extra):
                if chunk.content:
                    counts[0] += getattr(chunk, "pieces", 1)
                    counts[1] += 1

        await asyncio.gather(*(one() for _ in range(min(streams, 20))))  # warm: connections, imports
        counts[:] = [0, 0]
        reads = syscalls_read()
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one() for _ in range(streams)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        reads = syscalls_read() - reads
        print(json.dumps({"cpu": cpu, "wall": wall, "tokens": counts[0], "chunks": counts[1], "reads": reads}))
        pool.close()

    uvloop.run(main())
    """
)


NO_SOCKET = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import httpx, uvloop
    from pydantic import SecretStr
    from langchain_core.messages import HumanMessage
    from apps.serving.httpstream import HttpPool, StreamResponse, _Connection
    from apps.serving.streaming import OpenAIStreamingChat

    tokens, repeat, relay = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    event = {"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 1733000000,
             "model": "standin-rate-30-n-300", "choices": [{"index": 0, "delta": {"content": " bravo"},
             "finish_reason": None}]}
    body = ("data: " + json.dumps(event) + "\\n\\n").encode()
    TOKEN = b"%x\\r\\n%s\\r\\n" % (len(body), body)
    end = b"data: [DONE]\\n\\n"
    DONE = b"%x\\r\\n%s\\r\\n0\\r\\n\\r\\n" % (len(end), end)

    class Transport:
        def write(self, data): pass
        def close(self): pass
        def pause_reading(self): pass
        def resume_reading(self): pass
        def is_closing(self): return False

    class Pool(HttpPool):
        async def post(self, url, body, headers, **kwargs):
            self.connection = _Connection(asyncio.get_running_loop(), ("http", "standin", 80, False), self.pacer)
            self.connection.transport = Transport()
            self.connection.data_received(b"HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n")
            return StreamResponse(self, self.connection, None)

    async def once():
        loop = asyncio.get_running_loop()
        pool = Pool()
        chat = OpenAIStreamingChat(alias="standin", base_url="http://standin/v1", model_name="m",
                                   api_key=SecretStr("x"), timeout=httpx.Timeout(30.0), async_client=pool)
        sent = 0

        def feed():
            nonlocal sent
            if sent < tokens:
                sent += 1
                pool.connection.data_received(TOKEN)
                loop.call_soon(feed)
            else:
                pool.connection.data_received(DONE)

        got = chunks = 0

        def on_text(text, pieces):
            nonlocal got, chunks
            got += pieces
            chunks += 1

        extra = {"on_text": on_text} if relay else {}
        loop.call_soon(feed)
        cpu = time.process_time()
        async for chunk in chat.astream_chunks([HumanMessage("hi")], **extra):
            got += getattr(chunk, "pieces", 1)
            chunks += 1
        cpu = time.process_time() - cpu
        assert got == tokens, (got, tokens)
        return cpu, chunks

    async def main():
        runs = [await once() for _ in range(repeat)]
        cpu = min(r[0] for r in runs)
        print(json.dumps({"cpu": cpu, "wall": 0.0, "tokens": tokens, "chunks": runs[0][1]}))

    uvloop.run(main())
    """
)


def measure(code: Path, base: str, args: argparse.Namespace, relay: bool = False) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(code), "DJANGO_SETTINGS_MODULE": "apps.config.settings"}
    if args.no_socket:
        command = [sys.executable, "-c", NO_SOCKET, str(args.tokens), str(args.repeat), str(int(relay))]
    else:
        command = [
            sys.executable,
            "-c",
            CHILD,
            base,
            str(args.streams),
            str(args.tokens),
            str(args.rate),
            str(args.pace_ms),
            str(int(relay)),
        ]
    out = subprocess.run(
        command,
        cwd=code,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    if not args.no_socket and result["tokens"] != args.streams * args.tokens:
        raise SystemExit(f"{code}: {result['tokens']} tokens read, {args.streams * args.tokens} sent")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--rate", type=int, default=30, help="tokens/s per stream (0: as fast as possible)")
    parser.add_argument("--pace-ms", type=float, default=0.0, help="pace every stream (0: no pacing)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--code", action="append", type=Path, help="a worktree to measure (repeatable)")
    parser.add_argument("--no-socket", action="store_true", help="the reader's Python alone (see above)")
    parser.add_argument("--repeat", type=int, default=12, help="--no-socket: runs per round, the best one counts")
    parser.add_argument("--relay", action="store_true", help="each round also with on_text: the text relay")
    args = parser.parse_args()
    codes = [path.resolve() for path in args.code] if args.code else [ROOT]
    port = free_port()
    standin = subprocess.Popen(
        [sys.executable, "-m", "tests.support.standin", "--port", str(port)], cwd=ROOT, start_new_session=True
    )
    variants = [(code, relay) for code in codes for relay in ([False, True] if args.relay else [False])]
    results: dict[tuple[Path, bool], list[dict[str, float]]] = {variant: [] for variant in variants}
    try:
        wait_ok(f"http://127.0.0.1:{port}/health")
        for turn in range(args.rounds):
            order = variants if turn % 2 == 0 else variants[::-1]  # both orders
            for code, relay in order:
                result = measure(code, f"http://127.0.0.1:{port}/v1", args, relay)
                results[(code, relay)].append(result)
                label = f"{code}{' (relay)' if relay else ''}"
                print(
                    f"{label}: {result['cpu'] / result['tokens'] * 1e6:.2f} us CPU per token, "
                    f"{result['cpu'] / result['chunks'] * 1e6:.2f} us per chunk, "
                    f"{result['tokens'] / result['chunks']:.2f} tokens per chunk, "
                    + (
                        f"{result['tokens'] / result['reads']:.2f} tokens per socket read, "
                        if result.get("reads")
                        else ""
                    )
                    + f"wall {result['wall']:.1f} s, "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    finally:
        os.killpg(standin.pid, signal.SIGTERM)
        standin.wait(timeout=30)
    for (code, relay), runs in results.items():
        per_token = [r["cpu"] / r["tokens"] * 1e6 for r in runs]
        per_chunk = [r["cpu"] / r["chunks"] * 1e6 for r in runs]
        each = ", ".join(f"{v:.2f}" for v in per_token)
        print(
            f"{code}{' (relay)' if relay else ''}: median {statistics.median(per_token):.2f} us per token ({each}), "
            f"{statistics.median(per_chunk):.2f} us per chunk"
        )


if __name__ == "__main__":
    main()
