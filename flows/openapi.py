"""Tools from an OpenAPI 3 document: each operation becomes a LangChain tool whose arguments are
the operation's path, query and header parameters plus a JSON `body`, sent through the ports'
egress-guarded client with the tool set's auth. Parsing is pure; nothing here is fetched.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from flows.errors import FlowError
from flows.http import HttpRequest, answer_text, send
from flows.ports import HttpClient
from flows.tool_calls import note_call

METHODS = ("get", "post", "put", "patch", "delete")
MAX_OPERATIONS = 200
TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]+")


class OpenApiInvalid(FlowError):
    code = "openapi_invalid"


class Parameter(BaseModel):
    name: str
    location: str  # path | query | header
    required: bool = False
    description: str = ""
    json_schema: dict[str, Any] = Field(default_factory=dict)


class Operation(BaseModel):
    operation_id: str
    method: str
    path: str
    summary: str = ""
    parameters: list[Parameter] = Field(default_factory=list)
    body_schema: dict[str, Any] | None = None
    body_required: bool = False

    def args_schema(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for parameter in self.parameters:
            schema = dict(parameter.json_schema or {"type": "string"})
            if parameter.description:
                schema["description"] = parameter.description
            properties[parameter.name] = schema
            if parameter.required:
                required.append(parameter.name)
        if self.body_schema is not None:
            properties["body"] = {**self.body_schema, "description": "The JSON request body"}
            if self.body_required:
                required.append("body")
        return {"type": "object", "properties": properties, "required": required}


def _resolve(document: Mapping[str, Any], value: Any, depth: int = 0) -> Any:
    """Local `$ref`s (#/components/...) replaced by what they point at, a few levels deep."""
    if depth > 8:
        return {}
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith("#/"):
                return {}
            target: Any = document
            for part in ref[2:].split("/"):
                target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
            return _resolve(document, target or {}, depth + 1)
        return {key: _resolve(document, item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(document, item, depth + 1) for item in value]
    return value


def _operation_id(method: str, path: str) -> str:
    return TOOL_NAME.sub("_", f"{method}_{path}").strip("_")


def parse_document(document: Any) -> tuple[str, str, list[Operation]]:
    """(title, first server URL, operations) of an OpenAPI 3 document, or OpenApiInvalid."""
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3."):
        raise OpenApiInvalid("This is not an OpenAPI 3 document (its `openapi` field must say 3.x).")
    paths = document.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise OpenApiInvalid("The document has no `paths`, so there is no operation to make a tool of.")
    info: dict[str, Any] = document["info"] if isinstance(document.get("info"), dict) else {}
    servers: list[Any] = document["servers"] if isinstance(document.get("servers"), list) else []
    server = next((str(s["url"]) for s in servers if isinstance(s, dict) and isinstance(s.get("url"), str)), "")
    operations: list[Operation] = []
    seen: set[str] = set()
    for path, item in paths.items():
        if not isinstance(item, dict) or not isinstance(path, str):
            continue
        shared = item.get("parameters") if isinstance(item.get("parameters"), list) else []
        for method in METHODS:
            raw = item.get(method)
            if not isinstance(raw, dict):
                continue
            op = _resolve(document, raw)
            parameters = []
            for p in [*_resolve(document, shared), *(op.get("parameters") or [])]:
                if (
                    isinstance(p, dict)
                    and p.get("in") in {"path", "query", "header"}
                    and isinstance(p.get("name"), str)
                ):
                    parameters.append(
                        Parameter(
                            name=p["name"],
                            location=p["in"],
                            required=bool(p.get("required")) or p["in"] == "path",
                            description=str(p.get("description") or "")[:500],
                            json_schema=p["schema"] if isinstance(p.get("schema"), dict) else {},
                        )
                    )
            body = op.get("requestBody") if isinstance(op.get("requestBody"), dict) else None
            body_schema = None
            if body is not None:
                content = body.get("content") if isinstance(body.get("content"), dict) else {}
                media = content.get("application/json") or next(iter(content.values()), None)
                if isinstance(media, dict):
                    body_schema = media.get("schema") if isinstance(media.get("schema"), dict) else {"type": "object"}
            op_id = TOOL_NAME.sub("_", str(op.get("operationId") or _operation_id(method, path)))[:60]
            while op_id in seen:
                op_id += "_"
            seen.add(op_id)
            operations.append(
                Operation(
                    operation_id=op_id,
                    method=method.upper(),
                    path=path,
                    summary=str(op.get("summary") or op.get("description") or "")[:500],
                    parameters=parameters,
                    body_schema=body_schema,
                    body_required=bool(body and body.get("required")),
                )
            )
            if len(operations) >= MAX_OPERATIONS:
                raise OpenApiInvalid(f"The document has more than {MAX_OPERATIONS} operations; split it.")
    if not operations:
        raise OpenApiInvalid("The document's paths have no GET, POST, PUT, PATCH or DELETE operation.")
    return str(info.get("title") or "")[:200], server, operations


def tool_name(prefix: str, name: str) -> str:
    """A tool name models accept (letters, digits, _ and -; at most 64)."""
    return TOOL_NAME.sub("_", f"{prefix}__{name}")[:64]


def operation_tool(
    *,
    prefix: str,
    operation: Operation,
    base_url: str,
    auth_headers: Mapping[str, str],
    http: HttpClient,
    timeout: float = 15.0,
) -> BaseTool:
    async def run(config: RunnableConfig, **arguments: Any) -> str:
        path = operation.path
        query: dict[str, str] = {}
        headers: dict[str, str] = {}
        for parameter in operation.parameters:
            if parameter.name not in arguments or arguments[parameter.name] is None:
                continue
            value = arguments[parameter.name]
            text = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
            if parameter.location == "path":
                path = path.replace("{" + parameter.name + "}", quote(text, safe=""))
            elif parameter.location == "query":
                query[parameter.name] = text
            else:
                headers[parameter.name] = text
        headers.update(auth_headers)  # the tool set's auth wins over a same-named argument
        request = HttpRequest(
            operation.method, base_url.rstrip("/") + path, headers, query, arguments.get("body"), timeout
        )
        started = time.perf_counter()
        entry: dict[str, Any] = {"tool": tool_name(prefix, operation.operation_id), "kind": "openapi"}
        try:
            answer = await send(http, request)
        except FlowError as exc:
            note_call(config, {**entry, "ok": False, "error": exc.code, "ms": _ms(started)})
            raise
        note_call(config, {**entry, "ok": answer.status < 400, "status": answer.status, "ms": _ms(started)})
        return answer_text(answer)

    return StructuredTool.from_function(
        coroutine=run,
        name=tool_name(prefix, operation.operation_id),
        description=(operation.summary or f"{operation.method} {operation.path}")[:1000],
        args_schema=operation.args_schema(),
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
