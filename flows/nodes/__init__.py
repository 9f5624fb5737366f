"""Built-in node types: importing this package registers each one, explicitly, once."""

from flows.nodes import (  # noqa: F401
    agent,
    branch,
    chat_input,
    context_guard,
    http_request,
    input_guard,
    llm,
    loop,
    memory,
    merge,
    output,
    output_guard,
    prompt,
    retrieve,
    structured_output,
    subflow,
    template_transform,
    tool,
)
