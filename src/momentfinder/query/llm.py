"""The LLM parser: any OpenAI-compatible chat API (OpenAI, vLLM, llama.cpp server, Ollama's /v1)
reads the question into the JSON form of :mod:`.structure`.

The request asks for ``response_format: json_schema`` (:data:`~.structure.JSON_SCHEMA`); a server
that refuses it (HTTP 400/422) is asked again with the schema in the prompt only. The answer is
validated (:func:`~.structure.from_json`); on no answer, a malformed one, an HTTP error or the
timeout the rule-based parser reads the question instead and a log line says why. Standard library
only (urllib): no SDK.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from .structure import JSON_SCHEMA, StructuredQuery, from_json

log = logging.getLogger(__name__)

API_KEY_VARIABLES = ("MOMENTFINDER_LLM_API_KEY", "OPENAI_API_KEY")

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


@dataclass(frozen=True)
class LLMSettings:
    """Where the chat API is: ``url`` (a base such as ``http://localhost:11434/v1`` or the full
    ``.../chat/completions``), the ``model`` name, ``timeout`` seconds for the whole parse, and the
    API key (None: the first of :data:`API_KEY_VARIABLES` that is set; local servers need none)."""

    url: str
    model: str
    timeout: float = 20.0
    api_key: str | None = None

    @property
    def endpoint(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/chat/completions") else f"{url}/chat/completions"

    def key(self) -> str | None:
        if self.api_key:
            return self.api_key
        return next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)


class LLMUnavailable(Exception):
    """The chat API gave no usable answer (the message says why)."""


class LLMParser:
    """Parse with a chat model; ``fallback`` (a parser) reads the question when the model cannot."""

    name = "llm"

    def __init__(self, settings: LLMSettings, fallback=None):
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
        try:
            content = self._chat(text, deadline, structured=True)
        except _Refused:
            content = self._chat(text, deadline, structured=False)
        try:
            data = json.loads(_json_text(content))
        except ValueError:
            raise LLMUnavailable(f"the model's answer is not JSON: {content[:80]!r}") from None
        try:
            return from_json(data, text, self.name)
        except (ValueError, TypeError) as err:
            raise LLMUnavailable(f"the model's answer does not match the schema ({err})") from None

    def _chat(self, text: str, deadline: float, structured: bool) -> str:
        s = self.settings
        body: dict = {
            "model": s.model,
            "temperature": 0,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}],
        }
        if structured:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "moment_query", "schema": JSON_SCHEMA, "strict": True},
            }
        headers = {"Content-Type": "application/json"}
        if (key := s.key()) is not None:
            headers["Authorization"] = f"Bearer {key}"
        left = deadline - time.monotonic()
        if left <= 0:
            raise LLMUnavailable(f"no answer within {s.timeout:g} s")
        request = urllib.request.Request(s.endpoint, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=left) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            if structured and err.code in (400, 422):
                raise _Refused() from None
            raise LLMUnavailable(f"{s.endpoint} answered HTTP {err.code}") from None
        except TimeoutError:
            raise LLMUnavailable(f"no answer within {s.timeout:g} s") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            if isinstance(reason, TimeoutError) or "timed out" in str(reason):
                raise LLMUnavailable(f"no answer within {s.timeout:g} s") from None
            raise LLMUnavailable(f"cannot reach {s.endpoint} ({reason})") from None
        if time.monotonic() > deadline:
            raise LLMUnavailable(f"no answer within {s.timeout:g} s")
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMUnavailable("the reply is not an OpenAI-style chat completion") from None
        if not isinstance(content, str) or not content.strip():
            raise LLMUnavailable("the model's answer is empty")
        return content


class _Refused(Exception):
    """The server does not take response_format json_schema."""


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def _json_text(content: str) -> str:
    """The JSON in a model's answer: without a Markdown fence, from the first brace to the last."""
    content = content.strip()
    if m := _FENCE.match(content):
        content = m.group(1)
    start, end = content.find("{"), content.rfind("}")
    return content[start : end + 1] if 0 <= start < end else content
