"""The LLM parser against a small local HTTP server speaking the OpenAI chat-completions protocol:
good, fenced, malformed, off-schema, empty and slow answers, HTTP errors, servers that refuse
response_format, the API key from the environment, and the fallback to the rule-based parser."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from momentfinder.pipeline.compose import ParserSettings, parse_query
from momentfinder.query import LLMParser, LLMSettings, LLMUnavailable, RuleParser
from momentfinder.query.structure import Atom, Ordinal, Relation

GOOD = {
    "ask": "moments",
    "root": {
        "op": "after",
        "text": None,
        "n": None,
        "hint": None,
        "args": [
            {"op": "atom", "text": "she comes back", "n": None, "hint": None, "args": []},
            {"op": "atom", "text": "she leaves the room", "n": None, "hint": None, "args": []},
        ],
    },
}
GOOD_TREE = Relation("after", Atom("she comes back"), Atom("she leaves the room"))
QUESTION = "when does she come back after leaving the room?"
RULE_TREE = Relation("after", Atom("she come back"), Atom("leaving the room"))  # the rule parser's


class ChatServer:
    """An OpenAI-compatible /v1/chat/completions endpoint whose next answers the test sets."""

    def __init__(self):
        self.mode = "good"
        self.reply = None  # a function request body -> answer text, instead of the modes
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                server.requests.append(body)
                server.headers.append(dict(self.headers))
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": "not found"})
                mode = server.mode
                if server.reply is not None and mode != "slow":
                    return self._content(server.reply(body))
                if mode == "slow":
                    time.sleep(3.0)
                    return self._content(json.dumps(GOOD))
                if mode == "http500":
                    return self._send(500, {"error": "boom"})
                if mode == "no_response_format":
                    if "response_format" in body:
                        return self._send(400, {"error": "response_format not supported"})
                    return self._content(json.dumps(GOOD))
                if mode == "fenced":
                    return self._content("Here you go:\n```json\n" + json.dumps(GOOD) + "\n```")
                if mode == "malformed":
                    return self._content('{"ask": "moments", "root": {"op": "after", ')
                if mode == "off_schema":
                    return self._content(
                        json.dumps({"ask": "moments", "root": {"op": "teleport", "args": []}})
                    )
                if mode == "empty":
                    return self._content("")
                if mode == "not_chat":
                    return self._send(200, {"result": "hello"})
                if mode == "garbage":
                    self.send_response(200)
                    self.end_headers()
                    return self.wfile.write(b"\x00\xffnot json")
                return self._content(json.dumps(GOOD))

            def _content(self, text):
                self._send(
                    200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
                )

            def _send(self, code, payload):
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True  # a slow reply still sleeping does not hold up the next test
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def chat():
    server = ChatServer()
    yield server
    server.stop()


def parser(url, timeout=5.0, fallback=True, key=None):
    return LLMParser(
        LLMSettings(url, "tiny-model", timeout, key), fallback=RuleParser() if fallback else None
    )


def test_a_good_answer_is_the_parse(chat, monkeypatch):
    monkeypatch.delenv("MOMENTFINDER_LLM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    parsed = parser(chat.url).parse(QUESTION)
    assert parsed.root == GOOD_TREE and parsed.parser == "llm" and parsed.text == QUESTION
    body = chat.requests[0]
    assert body["model"] == "tiny-model" and body["messages"][-1]["content"] == QUESTION
    assert body["response_format"]["type"] == "json_schema"
    assert chat.headers[0]["Authorization"] == "Bearer sk-test"


def test_the_project_key_wins_and_no_key_sends_no_header(chat, monkeypatch):
    monkeypatch.setenv("MOMENTFINDER_LLM_API_KEY", "mf-key")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    parser(chat.url).parse(QUESTION)
    assert chat.headers[-1]["Authorization"] == "Bearer mf-key"
    monkeypatch.delenv("MOMENTFINDER_LLM_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY")
    parser(chat.url).parse(QUESTION)
    assert "Authorization" not in chat.headers[-1]


def test_a_full_endpoint_url_is_used_as_given(chat):
    assert parser(chat.url + "/chat/completions").parse(QUESTION).root == GOOD_TREE


def test_a_fenced_answer_is_read(chat):
    chat.mode = "fenced"
    assert parser(chat.url).parse(QUESTION).root == GOOD_TREE


def test_a_server_without_response_format_is_asked_again(chat):
    chat.mode = "no_response_format"
    assert parser(chat.url).parse(QUESTION).root == GOOD_TREE
    assert "response_format" in chat.requests[0] and "response_format" not in chat.requests[1]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("malformed", "not JSON"),
        ("off_schema", "does not match the schema"),
        ("empty", "empty"),
        ("not_chat", "not an OpenAI-style"),
        ("garbage", "not an OpenAI-style"),
        ("http500", "HTTP 500"),
    ],
)
def test_bad_answers_fall_back_to_the_rules_with_a_log_line(chat, caplog, mode, reason):
    chat.mode = mode
    with caplog.at_level(logging.WARNING, logger="momentfinder.query.llm"):
        parsed = parser(chat.url).parse(QUESTION)
    assert parsed.root == RULE_TREE and parsed.parser == "rule"
    assert any(reason in r.getMessage() and "rule-based parser" in r.getMessage() for r in caplog.records)
    with pytest.raises(LLMUnavailable, match=reason):
        parser(chat.url, fallback=False).parse(QUESTION)


def test_a_slow_server_falls_back_within_the_timeout(chat, caplog):
    chat.mode = "slow"
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="momentfinder.query.llm"):
        parsed = parser(chat.url, timeout=0.5).parse("the second time the dog jumps")
    assert time.monotonic() - t0 < 2.5
    assert parsed.root == Ordinal(2, Atom("the dog jumps")) and parsed.parser == "rule"
    assert any("within 0.5 s" in r.getMessage() for r in caplog.records)


def test_no_server_falls_back(caplog):
    with caplog.at_level(logging.WARNING, logger="momentfinder.query.llm"):
        parsed = parser("http://127.0.0.1:9/v1", timeout=2).parse(QUESTION)
    assert parsed.root == RULE_TREE
    assert any("cannot reach" in r.getMessage() for r in caplog.records)


def test_parser_settings_route_to_the_llm(chat):
    settings = ParserSettings("llm", llm_url=chat.url, llm_model="tiny-model", llm_timeout=5)
    assert parse_query(QUESTION, settings).root == GOOD_TREE
