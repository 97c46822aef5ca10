"""The OpenAI-compatible chat-completions protocol, the one way momentfinder talks to a language
or vision-language model server (OpenAI, vLLM, llama.cpp server, Ollama's ``/v1``). Standard
library only (urllib), no SDK; used by the LLM query parser (``query/llm.py``) and the VLM
re-ranker's API model (``encoders/vlm.py``)."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

API_KEY_VARIABLES = ("MOMENTFINDER_LLM_API_KEY", "OPENAI_API_KEY")


class ChatUnavailable(Exception):
    """No usable answer (the message says why, for a log line)."""


class ChatRefused(ChatUnavailable):
    """The server refused the request's form (HTTP 400/422), e.g. a response_format it lacks."""


@dataclass(frozen=True)
class ChatEndpoint:
    """``url``: a base such as ``http://localhost:11434/v1`` or the full ``.../chat/completions``;
    ``model`` its name there; ``timeout`` seconds per request; the API key (None: the first of
    :data:`API_KEY_VARIABLES` that is set; local servers need none)."""

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

    def complete(self, messages: list[dict], deadline: float | None = None, **options) -> str:
        """The assistant's text for ``messages`` (``options``: more request fields, e.g.
        ``response_format``, ``max_tokens``). ``deadline``: a ``time.monotonic()`` by which the
        answer must be in (default: ``timeout`` from now)."""
        deadline = time.monotonic() + self.timeout if deadline is None else deadline
        body = {"model": self.model, "temperature": 0, "messages": messages, **options}
        headers = {"Content-Type": "application/json"}
        if (key := self.key()) is not None:
            headers["Authorization"] = f"Bearer {key}"
        left = deadline - time.monotonic()
        if left <= 0:
            raise ChatUnavailable(f"no answer within {self.timeout:g} s")
        request = urllib.request.Request(self.endpoint, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=left) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            if err.code in (400, 422):
                raise ChatRefused(f"{self.endpoint} refused the request (HTTP {err.code})") from None
            raise ChatUnavailable(f"{self.endpoint} answered HTTP {err.code}") from None
        except TimeoutError:
            raise ChatUnavailable(f"no answer within {self.timeout:g} s") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            if isinstance(reason, TimeoutError) or "timed out" in str(reason):
                raise ChatUnavailable(f"no answer within {self.timeout:g} s") from None
            raise ChatUnavailable(f"cannot reach {self.endpoint} ({reason})") from None
        if time.monotonic() > deadline:
            raise ChatUnavailable(f"no answer within {self.timeout:g} s")
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ChatUnavailable("the reply is not an OpenAI-style chat completion") from None
        if not isinstance(content, str) or not content.strip():
            raise ChatUnavailable("the model's answer is empty")
        return content
