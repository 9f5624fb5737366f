"""Agent: a model that picks tools until it can answer.

Native tool calling where the model supports it, else ReAct (the model writes `Action:` /
`Action Input:` lines and reads `Observation:` back). Its tools are the run's tools by name
(built-ins and whatever the app provides in `Ports.extra_tools`: HTTP, OpenAPI, MCP), a search
tool per selected knowledge base and a tool per selected sub-flow. Bounded by max iterations
(model calls), a time budget and a token budget; each model call and each tool call is a span of
its own (`agent/step2`, `agent/step2/calculator`); the final answer is streamed.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any, Literal
from uuid import UUID

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, ConfigDict, Field

from flows.errors import ModelUnavailable, NodeFailed
from flows.events import preview
from flows.model_calls import call_model, tokens_of
from flows.nodes.subflow import run_subflow
from flows.ports import Ports
from flows.registry import CONTEXT_KEY, NodeContext, NodeType, Port, register
from flows.tools import checked_result, resolve_tool
from flows.types import PortType
from flows.values import to_messages, to_text

TOOL_NAME = r"^[a-zA-Z0-9_-]{1,64}$"
MAX_OBSERVATION = 4000
_ACTION = re.compile(r"Action\s*:\s*(?P<name>[^\n]+?)\s*\n+\s*Action\s*Input\s*:\s*(?P<input>.*)", re.DOTALL)
_FINAL = re.compile(r"Final\s*Answer\s*:\s*", re.IGNORECASE)


class KnowledgeTool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    knowledge_base: UUID = Field(json_schema_extra={"format": "knowledge-base"})
    description: str = Field(default="", max_length=500, description="When the agent should search it")
    top_k: int = Field(default=4, ge=1, le=20)


class SubflowTool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flow: str = Field(min_length=1, max_length=64, json_schema_extra={"format": "flow-ref"})
    name: str = Field(pattern=TOOL_NAME, description="The tool's name as the model sees it")
    description: str = Field(min_length=1, max_length=500, description="What the flow does, for the model")


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=100, json_schema_extra={"format": "model-alias"})
    system_prompt: str = Field(
        default="You are a helpful assistant. Use the tools when they help; answer when you can.",
        max_length=50_000,
        json_schema_extra={"format": "prompt"},
    )
    tools: list[str] = Field(default_factory=list, max_length=32, description="Tools the agent may call")
    knowledge_bases: list[KnowledgeTool] = Field(default_factory=list, max_length=8)
    subflows: list[SubflowTool] = Field(default_factory=list, max_length=8, description="Published flows as tools")
    mode: Literal["auto", "native", "react"] = Field(
        default="auto", description="auto: native tool calling when the model has it, else ReAct"
    )
    max_iterations: int = Field(default=6, ge=1, le=30, description="Model calls at most")
    time_budget_s: float = Field(default=120, ge=1, le=900)
    token_budget: int = Field(default=20_000, ge=100, le=1_000_000, description="Input + output tokens at most")
    temperature: float = Field(default=0.2, ge=0, le=2)
    max_tokens: int = Field(default=1024, ge=16, le=32_768, description="Per model call")


class _Budget:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.deadline = time.monotonic() + config.time_budget_s
        self.tokens = 0

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise NodeFailed(
                f"The agent ran out of its time budget ({self.config.time_budget_s:g} s) before answering: "
                "raise Time budget or narrow the task.",
                code="agent_time_budget",
            )
        return left

    def spend(self, tokens: int) -> None:
        self.tokens += tokens
        if self.tokens > self.config.token_budget:
            raise NodeFailed(
                f"The agent used {self.tokens:,} tokens, over its budget of {self.config.token_budget:,}, "
                "before answering: raise Token budget or narrow the task.",
                code="agent_token_budget",
            )


def _knowledge_tool(index: int, spec: KnowledgeTool, ports: Ports) -> BaseTool:
    async def search(query: str) -> str:
        documents = await ports.retrievers.retrieve(
            spec.knowledge_base, query, k=spec.top_k, mode="hybrid", score_threshold=None
        )
        return "\n\n".join(f"[{i}] {d.page_content}" for i, d in enumerate(documents, start=1)) or "No results."

    return StructuredTool.from_function(
        coroutine=search,
        name=f"search_knowledge_{index}",
        description=spec.description or "Searches a knowledge base; give it a search query.",
    )


def _subflow_tool(spec: SubflowTool, ports: Ports, ctx: NodeContext, step: Callable[[], str]) -> BaseTool:
    async def call(message: str) -> str:
        outputs = await run_subflow(spec.flow, message, ports, ctx, span=step(), stream=False)
        return "\n".join(to_text(out.get("value")) for out in outputs.values()) or "(no output)"

    return StructuredTool.from_function(coroutine=call, name=spec.name, description=spec.description)


def _tool_lines(tools: list[BaseTool]) -> str:
    return "\n".join(
        f"- {tool.name}: {tool.description} Arguments (JSON): {json.dumps(tool.args, default=str)}" for tool in tools
    )


REACT_FORMAT = """You can use these tools:
{tools}

To use a tool, write exactly:
Action: <tool name>
Action Input: <a JSON object of arguments>
Then stop; you will get back "Observation: <result>". When you can answer, write:
Final Answer: <the answer>"""


@register
class AgentNode(NodeType[AgentConfig]):
    type, version = "agent", 1
    title = "Agent"
    description = "A model that calls tools, knowledge bases and sub-flows until it can answer, within budgets."
    category, icon = "model", "bot"
    config_model = AgentConfig
    inputs = {
        "task": Port(PortType.MESSAGES, description="The request (text or messages)"),
        "history": Port(PortType.MESSAGES, required=False, description="Earlier turns (memory)"),
    }
    outputs = {
        "text": Port(PortType.TEXT, description="The final answer"),
        "steps": Port(PortType.JSON, description="The tool calls it made: tool, arguments, result"),
    }

    async def run(self, config: AgentConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext) -> dict[str, Any]:
        state = {"step": 0}
        tools = [resolve_tool(name, ports) for name in config.tools]
        tools += [_knowledge_tool(i, kb, ports) for i, kb in enumerate(config.knowledge_bases, start=1)]
        tools += [_subflow_tool(sf, ports, ctx, lambda: ctx.child_id(f"step{state['step']}")) for sf in config.subflows]
        model = ports.models.chat_model(config.model, temperature=config.temperature, max_tokens=config.max_tokens)
        mode, runnable = _mode(config, model, tools)
        history = (
            [m for m in to_messages(inputs["history"]) if not isinstance(m, SystemMessage)]
            if "history" in inputs
            else []
        )
        task = list(to_messages(inputs["task"]))
        system = config.system_prompt
        if mode == "react":
            system = f"{system}\n\n{REACT_FORMAT.format(tools=_tool_lines(tools))}".strip()
        messages: list[BaseMessage] = [SystemMessage(content=system), *history, *task]
        budget, steps = _Budget(config), list[dict[str, Any]]()
        by_name = {tool.name: tool for tool in tools}
        for number in range(1, config.max_iterations + 1):
            state["step"] = number
            span = ctx.child_id(f"step{number}")
            try:
                reply, streamed = await self._think(config, runnable, messages, mode, span, budget, ports, ctx)
            except ModelUnavailable:
                if not (number == 1 and config.mode == "auto" and mode == "native" and tools):
                    raise
                # The server refused the tools (the built-in local model does): ReAct instead.
                mode, runnable = "react", model
                react = f"{config.system_prompt}\n\n{REACT_FORMAT.format(tools=_tool_lines(tools))}".strip()
                messages[0] = SystemMessage(content=react)
                reply, streamed = await self._think(config, runnable, messages, mode, span, budget, ports, ctx)
            calls = _calls(reply, mode)
            if not calls:
                answer = _final(reply, mode)
                if not streamed:  # ReAct, and the model answered without writing "Final Answer:"
                    ctx.token(answer)
                ctx.note(
                    "agent", {"mode": mode, "iterations": number, "tokens": budget.tokens, "tool_calls": len(steps)}
                )
                return {"text": answer, "steps": steps}
            messages.append(reply if mode == "native" else AIMessage(content=str(reply.content)))
            observations = []
            for call_id, name, args in calls:
                result = await self._act(by_name.get(name), name, args, f"{span}/{name}"[:64], budget, ctx)
                result = await checked_result(ports, name, result)  # a guard policy's check on tool results
                steps.append({"step": number, "tool": name, "arguments": args, "result": result[:MAX_OBSERVATION]})
                if mode == "native":
                    messages.append(ToolMessage(content=result[:MAX_OBSERVATION], tool_call_id=call_id or name))
                else:
                    observations.append(f"Observation: {result[:MAX_OBSERVATION]}")
            if observations:
                messages.append(HumanMessage(content="\n".join(observations)))
        ctx.note(
            "agent",
            {"mode": mode, "iterations": config.max_iterations, "tokens": budget.tokens, "tool_calls": len(steps)},
        )
        raise NodeFailed(
            f"The agent made {config.max_iterations} model calls without a final answer: raise Max iterations, "
            "or make the task or the tools clearer.",
            code="agent_max_iterations",
        )

    async def _think(
        self,
        config: AgentConfig,
        runnable: Any,
        messages: list[BaseMessage],
        mode: str,
        span: str,
        budget: _Budget,
        ports: Ports,
        ctx: NodeContext,
    ) -> tuple[AIMessageChunk, bool]:
        """One model call as a span. Native: text streams as it comes (a reply that calls tools
        rarely has any); ReAct: only what follows `Final Answer:` streams."""
        started = time.perf_counter()
        ctx.span("node.started", span, {"type": "agent.step", "inputs": {"messages": len(messages)}})
        streamed: dict[str, Any] = {"seen": "", "final_at": -1}

        def on_text(text: str) -> None:
            if mode == "native":
                ctx.token(text)
                return
            seen = streamed["seen"] = streamed["seen"] + text
            if streamed["final_at"] < 0 and (found := _FINAL.search(seen)):
                streamed["final_at"] = found.end()
                ctx.token(seen[found.end() :])
            elif streamed["final_at"] >= 0:
                ctx.token(text)

        try:
            reply = await call_model(
                runnable,
                messages,
                alias=config.model,
                ports=ports,
                ctx=ctx,
                timeout=budget.remaining(),
                on_text=on_text,
            )
            budget.spend(tokens_of(reply))
        except Exception as exc:
            ctx.span(
                "node.failed",
                span,
                {"code": getattr(exc, "code", "node_failed"), "message": str(exc), "latency_ms": _ms(started)},
            )
            raise
        wanted = [name for _, name, _ in _calls(reply, mode)]
        ctx.span(
            "node.finished",
            span,
            {
                "outputs": {"text": preview(str(reply.content)), "tool_calls": wanted},
                "latency_ms": _ms(started),
                "usage": None,
                "notes": {"tokens": tokens_of(reply)},
            },
        )
        return reply, mode == "native" or streamed["final_at"] >= 0

    async def _act(
        self, tool: BaseTool | None, name: str, args: dict[str, Any], span: str, budget: _Budget, ctx: NodeContext
    ) -> str:
        """One tool call as a span; a failing tool tells the model (as a person would see it)."""
        started = time.perf_counter()
        ctx.span("node.started", span, {"type": "agent.tool", "inputs": {"arguments": preview(args)}})
        if tool is not None and set(args) == {"input"} and len(tool.args) == 1 and "input" not in tool.args:
            args = {next(iter(tool.args)): args["input"]}  # ReAct: a bare value for a one-argument tool
        if tool is None:
            result = f"There is no tool named {name!r}."
            ctx.span("node.failed", span, {"code": "tool_unavailable", "message": result, "latency_ms": _ms(started)})
            return result
        try:
            async with asyncio.timeout(budget.remaining()):
                result = str(await tool.ainvoke(args, config={"configurable": {CONTEXT_KEY: ctx}}))
        except NodeFailed:
            raise
        except TimeoutError:
            budget.remaining()  # raises agent_time_budget
            raise
        except Exception as exc:
            result = f"Tool error: {exc}"
            ctx.span("node.failed", span, {"code": "tool_failed", "message": result, "latency_ms": _ms(started)})
            return result
        ctx.span(
            "node.finished", span, {"outputs": {"result": preview(result)}, "latency_ms": _ms(started), "usage": None}
        )
        return result


def _mode(config: AgentConfig, model: Any, tools: list[BaseTool]) -> tuple[str, Any]:
    """Native tool calling when the model has it (auto, native), else ReAct; and what to call."""
    if config.mode == "react":
        return "react", model
    if not tools:
        return "native", model
    try:
        return "native", model.bind_tools(tools)
    except NotImplementedError:
        if config.mode == "native":
            raise NodeFailed(
                f"The model {config.model!r} cannot call tools: choose ReAct mode.", code="tools_unsupported"
            ) from None
        return "react", model


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _calls(reply: AIMessageChunk, mode: str) -> list[tuple[str | None, str, dict[str, Any]]]:
    if mode == "native":
        return [(call.get("id"), call["name"], dict(call.get("args") or {})) for call in reply.tool_calls]
    text = str(reply.content)
    text = text.split("Observation:", maxsplit=1)[0]
    final = _FINAL.search(text)
    action = _ACTION.search(text)
    if action is None or (final is not None and final.start() < action.start()):
        return []
    raw = action.group("input").strip()
    try:
        args = json.loads(raw[raw.index("{") : raw.rindex("}") + 1]) if "{" in raw else {"input": raw}
    except ValueError:
        args = {"input": raw}
    return [(None, action.group("name").strip().strip("`"), args if isinstance(args, dict) else {"input": args})]


def _final(reply: AIMessageChunk, mode: str) -> str:
    text = str(reply.content)
    if mode == "react" and (found := _FINAL.search(text)):
        return text[found.end() :].strip()
    return text.strip()
