"""Built-in node types: importing this package registers each one, explicitly, once."""

from flows.nodes import (  # noqa: F401
    branch,
    chat_input,
    llm,
    memory,
    merge,
    output,
    prompt,
    retrieve,
    tool,
)
