"""The LLM parser: any OpenAI-compatible chat API (OpenAI, vLLM, llama.cpp server, Ollama's /v1)
reads the question into the JSON form of :mod:`.structure`.

The request asks for ``response_format: json_schema`` (:data:`~.structure.JSON_SCHEMA`); a server
that refuses it (HTTP 400/422) is asked again with the schema in the prompt only. The answer is
validated (:func:`~.structure.from_json`); on no answer, a malformed one, an HTTP error or the
timeout the rule-based parser reads the question instead and a log line says why. The transport
is :mod:`momentfinder.chat_api` (urllib, no SDK).
"""

from __future__ import annotations

import json
import logging
import re
import time

from ..chat_api import API_KEY_VARIABLES, ChatEndpoint, ChatRefused, ChatUnavailable
from .structure import JSON_SCHEMA, StructuredQuery, from_json

log = logging.getLogger(__name__)

__all__ = ["API_KEY_VARIABLES", "LLMParser", "LLMSettings", "LLMUnavailable"]

SYSTEM_PROMPT = """You turn a question about a video into a JSON query tree. Answer with JSON only.
Top level: {"ask": "moments" or "count", "root": NODE}. "count" is for "how many times" questions.
Every NODE has all five keys: {"op": ..., "text": string or null, "n": integer or null, "hint": "short", "long" or null, "args": [NODE, ...]}.
Ops:
- "atom": one visual description to look for, in "text" (a short caption, no question words); args [].
- "after": args [TARGET, ANCHOR]: the TARGET that happens after the ANCHOR.
- "before": args [TARGET, ANCHOR]: the TARGET that happens before the ANCHOR.
- "while": args [TARGET, ANCHOR]: the TARGET happening during the ANCHOR.
- "then": args [SECOND, FIRST]: FIRST followed by SECOND, the whole sequence.
- "ordinal": "n" = 1, 2, 3... or -1 for the last time; args [NODE].
- "duration": "hint" = "short" (briefly) or "long" (for a long time); args [NODE].
- "not": args [ABSENT] or [ABSENT, PRESENT]: when PRESENT is visible but ABSENT is not.
A plain description is a single atom with the text unchanged.
Examples:
"the second time the dog jumps" -> {"ask":"moments","root":{"op":"ordinal","text":null,"n":2,"hint":null,"args":[{"op":"atom","text":"the dog jumps","n":null,"hint":null,"args":[]}]}}
"when does she come back after leaving the room" -> {"ask":"moments","root":{"op":"after","text":null,"n":null,"hint":null,"args":[{"op":"atom","text":"she comes back","n":null,"hint":null,"args":[]},{"op":"atom","text":"she leaves the room","n":null,"hint":null,"args":[]}]}}
"when is the person not holding the cup" -> {"ask":"moments","root":{"op":"not","text":null,"n":null,"hint":null,"args":[{"op":"atom","text":"the person holding the cup","n":null,"hint":null,"args":[]},{"op":"atom","text":"the person","n":null,"hint":null,"args":[]}]}}"""


LLMSettings = ChatEndpoint  # where the chat API is: url, model, timeout (whole parse), api_key


class LLMUnavailable(Exception):
    """The chat API gave no usable answer (the message says why)."""


class LLMParser:
    """Parse with a chat model; ``fallback`` (a parser) reads the question when the model cannot."""

    name = "llm"

    def __init__(self, settings: ChatEndpoint, fallback=None):
        self.settings = settings
        self.fallback = fallback

    def parse(self, text: str) -> StructuredQuery:
        try:
            return self.parse_strict(text)
        except LLMUnavailable as err:
            if self.fallback is None:
                raise
            log.warning("LLM parser: %s; using the rule-based parser", err)
            return self.fallback.parse(text)

    def parse_strict(self, text: str) -> StructuredQuery:
        """The model's parse, or :class:`LLMUnavailable`."""
        deadline = time.monotonic() + self.settings.timeout
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]
        schema = {
            "type": "json_schema",
            "json_schema": {"name": "moment_query", "schema": JSON_SCHEMA, "strict": True},
        }
        try:
            try:
                content = self.settings.complete(messages, deadline, response_format=schema)
            except ChatRefused:  # no structured output there: the schema is in the prompt
                content = self.settings.complete(messages, deadline)
        except ChatUnavailable as err:
            raise LLMUnavailable(str(err)) from None
        try:
            data = json.loads(_json_text(content))
        except ValueError:
            raise LLMUnavailable(f"the model's answer is not JSON: {content[:80]!r}") from None
        try:
            return from_json(data, text, self.name)
        except (ValueError, TypeError) as err:
            raise LLMUnavailable(f"the model's answer does not match the schema ({err})") from None


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def _json_text(content: str) -> str:
    """The JSON in a model's answer: without a Markdown fence, from the first brace to the last."""
    content = content.strip()
    if m := _FENCE.match(content):
        content = m.group(1)
    start, end = content.find("{"), content.rfind("}")
    return content[start : end + 1] if 0 <= start < end else content
