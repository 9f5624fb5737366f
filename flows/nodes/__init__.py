"""Built-in node types: importing this package registers each one, explicitly, once."""

from flows.nodes import (  # noqa: F401
    branch,
    chat_input,
    context_guard,
    input_guard,
    llm,
    memory,
    merge,
    output,
    output_guard,
    prompt,
    retrieve,
    tool,
)
