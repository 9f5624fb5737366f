"""The items of a held-out injection set that share no 8-word run with any other corpus file.

    .venv/bin/python tests/bench/heldout_novel.py tests/corpus/guardrails/heldout9.jsonl /tmp/novel.jsonl
    .venv/bin/python tests/bench/bench_guards.py --heldout /tmp/novel.jsonl

An item that repeats 8 words of a training or older held-out file (a well-known public jailbreak, say)
may be caught by memory rather than by generalising; the figure without them says how much that counts.
Every string value of every other `.jsonl` and the `.py` files in the set's folder are compared.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

WORDS = 8


def shingles(text: str, n: int = WORDS) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def others(held: Path) -> set[str]:
    seen: set[str] = set()
    for path in held.parent.glob("*.jsonl"):
        if path.name == held.name:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                for value in item.values():
                    if isinstance(value, str):
                        seen |= shingles(value)
    for path in held.parent.glob("*.py"):
        seen |= shingles(path.read_text(encoding="utf-8"))
    return seen


def main(held: Path, out: Path) -> None:
    seen = others(held)
    items = [json.loads(line) for line in held.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [item for item in items if not shingles(item["text"]) & seen]
    out.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in kept), encoding="utf-8")
    attacks = sum(item["label"] for item in kept)
    shared = len(items) - len(kept)
    print(
        f"{len(items)} items, {shared} share an {WORDS}-word run; kept {attacks} attacks, {len(kept) - attacks} benign"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
