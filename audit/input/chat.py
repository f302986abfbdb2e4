"""Parsing of chat-message columns into an :class:`AuditRow` context and completion.

Datasets spell conversations several ways (OpenAI ``role``/``content``, ShareGPT ``from``/``value``,
content as a string or as a list of typed parts). All of them reduce to a tuple of
:class:`Message`; the last assistant turn is the completion to score.
"""

from __future__ import annotations

from typing import Any

from audit.core.rows import Message

_SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system", "user": "user",
                   "assistant": "assistant"}


class MessageFormatError(ValueError):
    """A messages value that cannot be read as a conversation; the text is the skip reason."""


def _content_text(content: Any) -> str:
    """Return the text of a message's content (a string, or a list of typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                raise MessageFormatError("message content part is not text")
        return "".join(parts)
    if content is None:
        raise MessageFormatError("null message content")
    raise MessageFormatError("message content is not text")


def parse_messages(value: Any) -> tuple[Message, ...]:
    """Turn one messages cell into messages, raising :class:`MessageFormatError` when it can't."""
    if value is None:
        raise MessageFormatError("null messages")
    if not isinstance(value, list | tuple):
        raise MessageFormatError("messages is not a list")
    messages: list[Message] = []
    for item in value:
        if not isinstance(item, dict):
            raise MessageFormatError("message is not an object")
        if "role" in item:
            role = item["role"]
            content = item.get("content")
        elif "from" in item:
            role = _SHAREGPT_ROLES.get(str(item["from"]), item["from"])
            content = item.get("value")
        else:
            raise MessageFormatError("message has no role")
        if not isinstance(role, str):
            raise MessageFormatError("message role is not text")
        messages.append(Message(role=role, content=_content_text(content)))
    return tuple(messages)


def split_completion(messages: tuple[Message, ...]) -> tuple[tuple[Message, ...], str]:
    """Split a conversation into (context, completion): the completion is the final assistant turn."""
    if not messages:
        raise MessageFormatError("empty conversation")
    last = messages[-1]
    if last.role != "assistant":
        raise MessageFormatError("last message is not from the assistant")
    context = messages[:-1]
    if not any(m.role == "user" for m in context):
        raise MessageFormatError("no user turn before the completion")
    return context, last.content
