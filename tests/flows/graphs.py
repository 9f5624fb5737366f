"""A small builder for flow specs in tests: graph().node(...).edge(...).spec"""

from __future__ import annotations

from typing import Any


class Graph:
    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.edges: list[dict[str, Any]] = []

    def node(self, node_id: str, type_: str, **config: Any) -> Graph:
        self.nodes.append(
            {
                "id": node_id,
                "type": type_,
                "version": 1,
                "config": config,
                "position": {"x": len(self.nodes) * 200, "y": 0},
            }
        )
        return self

    def edge(self, source: str, target: str, source_port: str | None = None, target_port: str | None = None) -> Graph:
        self.edges.append(
            {
                "id": f"e{len(self.edges)}",
                "source": source,
                "source_port": source_port or "out",
                "target": target,
                "target_port": target_port or "in",
            }
        )
        return self

    @property
    def spec(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "edges": self.edges}


def graph() -> Graph:
    return Graph()


def chat_flow(template: str = "Question: {{question}}", model: str = "echo") -> dict[str, Any]:
    """chat input -> prompt -> LLM -> output: the flow most tests run."""
    return (
        graph()
        .node("in", "chat_input")
        .node("prompt", "prompt", template=template)
        .node("llm", "llm", model=model)
        .node("out", "output")
        .edge("in", "prompt", "message", "question")
        .edge("prompt", "llm", "messages", "prompt")
        .edge("llm", "out", "text", "value")
        .spec
    )
