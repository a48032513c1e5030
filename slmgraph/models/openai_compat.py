"""One client for OpenAI-compatible servers, sending each constraint the way the server expects.

=========  ==============================================================================
server     how a constraint travels
=========  ==============================================================================
vllm       ``extra_body={"structured_outputs": {"json"|"regex"|"grammar"|"choice": …}}``.
           Never the old ``guided_json``/``guided_regex``… fields: current vLLM ignores them
           silently and the output comes back unconstrained.
llamacpp   ``grammar`` (GBNF) for every kind. JSON schemas are compiled by our converter
           rather than sent as ``response_format={"type": "json_object", "schema": …}``,
           because llama-cpp-python's server converts schemas with the converter that lets
           raw control characters into strings (see ``constraints/json_gbnf.py``).
openai     ``response_format={"type": "json_schema", "json_schema": {…, "strict": true}}``;
           a choice is sent as a one-field object with an ``enum`` and unwrapped. Regexes and
           grammars are not supported by the OpenAI API (a ``ModelError(kind="unsupported")``).
=========  ==============================================================================

The request is one JSON POST, sent with httpx rather than the OpenAI SDK (whose timeouts are
per socket read, whose retry sleeps ignore ours, and which returns a 200's non-JSON body as a
string), so that every server fault ends in a :class:`ModelError` a tier can fall back on:

- ``timeout_s`` bounds the whole call: connect, send, headers, body, client-level retries and
  their waits. The client built here gives every socket operation only the time left before
  the call's deadline, so neither a trickled body nor trickled headers outlast it (name
  resolution, done by the OS, is the one step it cannot bound).
- A 2xx body that is not UTF-8, not JSON, not a chat completion, or past
  :data:`MAX_BODY_BYTES` is ``invalid_output``; refused, reset or cut-off connections are
  ``connection``; 408 is ``timeout``; 429, 5xx and redirect loops are ``server``; other 4xx
  are ``config``. All but ``config`` are retryable; a tier falls back on every one of them.
- ``settings.max_retries`` retries connection errors, timeouts, 408, 429 and 5xx on the same
  server after 0.25 s, 0.5 s, 1 s … (at most :data:`MAX_BACKOFF_S`) or the server's
  ``Retry-After``, but only while the deadline leaves time for the wait.
"""

from __future__ import annotations

import email.utils
import functools
import json
import os
import ssl
import time
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from slmgraph.constraints.base import Constraint
from slmgraph.constraints.gbnf import constraint_to_gbnf
from slmgraph.errors import ErrorKind, ModelError
from slmgraph.models.base import Completion, Message, Usage
from slmgraph.models.settings import OpenAICompatSettings

_CHOICE_KEY = "choice"

#: The most of a response body read; a server that streams on past it is cut off.
MAX_BODY_BYTES = 16 * 1024 * 1024
#: The longest wait between client-level retries; a server asking for longer (Retry-After)
#: is not retried here.
MAX_BACKOFF_S = 4.0


def constraint_fields(server: str, constraint: Constraint | None) -> dict[str, Any]:
    """The request-body fields that carry ``constraint`` to ``server`` (merged into the body)."""
    if constraint is None:
        return {}
    if server == "vllm":
        if constraint.kind == "json_schema":
            return {"structured_outputs": {"json": constraint.json_schema}}
        if constraint.kind == "regex":
            return {"structured_outputs": {"regex": constraint.regex}}
        if constraint.kind == "choice":
            return {"structured_outputs": {"choice": list(constraint.choices)}}
        grammar = constraint.gbnf or constraint.lark
        return {"structured_outputs": {"grammar": grammar}}
    if server == "llamacpp":
        return {"grammar": constraint_to_gbnf(constraint)}
    if constraint.kind == "json_schema":
        schema = constraint.json_schema
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema, "strict": True},
            }
        }
    if constraint.kind == "choice":
        schema = {
            "type": "object",
            "properties": {_CHOICE_KEY: {"type": "string", "enum": list(constraint.choices)}},
            "required": [_CHOICE_KEY],
            "additionalProperties": False,
        }
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "choice", "schema": schema, "strict": True},
            }
        }
    raise ModelError(
        f"OpenAI-style servers do not accept {constraint.kind} constraints; use "
        "`server: vllm` or `server: llamacpp` if your server is one of those",
        kind="unsupported",
        backend="openai_compat",
    )


# The deadline -------------------------------------------------------------------------------

#: The monotonic time the HTTP call in progress on this thread must end by (None: no bound).
_deadline: ContextVar[float | None] = ContextVar("slmgraph_http_deadline", default=None)


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` cut to the time left before the deadline; ``expired`` once it has passed."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the call's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend, with every operation's timeout cut to the deadline (TCP
    only: the pool is built without ``uds`` and without retries, which would sleep)."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        budget = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.connect_tcp(host, port, budget, local_address, socket_options)
        )


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()  # loads the CA bundle: once per process, not per tier


def deadline_client() -> httpx.Client:
    """An httpx client whose sockets honour the deadline of the call in progress.

    httpx has no total timeout (encode/httpx#1450) and no public way to give ``HTTPTransport``
    a network backend, so its connection pool is replaced by one built with ours. Proxies from
    the environment are not used (they would bypass the pool): pass a client you built for that.
    """
    transport = httpx.HTTPTransport(verify=_ssl_context())
    transport._pool = httpcore.ConnectionPool(
        ssl_context=_ssl_context(), network_backend=_DeadlineBackend()
    )
    # A redirect or two (http -> https, a trailing slash); more means a misconfigured server.
    # Without a timeout_s (a direct call), per-operation timeouts as the OpenAI SDK's.
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(600.0, connect=5.0),
        follow_redirects=True,
        max_redirects=5,
        trust_env=False,
    )


# The backend --------------------------------------------------------------------------------


class OpenAICompatBackend:
    """``client``: an ``httpx.Client`` the caller built (a proxy, TLS settings, a test
    transport). The deadline then bounds its body read between chunks only; the client built
    here (:func:`deadline_client`) bounds every socket operation."""

    name = "openai_compat"

    def __init__(
        self, model: str, settings: OpenAICompatSettings, client: httpx.Client | None = None
    ) -> None:
        self.model = model
        self.settings = settings
        self.client = client if client is not None else deadline_client()
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        key = os.environ.get(settings.api_key_env, "") if settings.api_key_env else ""
        self.headers = {
            "authorization": f"Bearer {key or 'not-needed'}",
            "content-type": "application/json",
            "accept": "application/json",
            **settings.headers,
        }

    def complete(
        self,
        messages: Sequence[Message],
        constraint: Constraint | None = None,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        top_p: float | None = None,
        logprobs: bool = True,
        timeout_s: float | None = None,
    ) -> Completion:
        server = self.settings.server
        want_lp = logprobs and (
            self.settings.logprobs if self.settings.logprobs is not None else server != "llamacpp"
        )
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if stop:
            body["stop"] = list(stop)
        if seed is not None:
            body["seed"] = seed
        if top_p is not None:
            body["top_p"] = top_p
        if want_lp:
            body["logprobs"] = True
        body.update(self.settings.extra_body)
        body.update(constraint_fields(server, constraint))
        try:  # ASCII escapes: a lone surrogate in a prompt cannot break the encoding
            payload = json.dumps(body, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise self._err(f"the request is not JSON-serialisable: {exc}", "config") from None
        start = time.perf_counter()
        raw = self._post(payload, timeout_s)
        latency = time.perf_counter() - start
        text, usage, lps, finish = self._read(raw)
        if constraint is not None and constraint.kind == "choice" and server == "openai":
            try:
                text = str(json.loads(text)[_CHOICE_KEY])
            except (ValueError, KeyError, TypeError):
                raise ModelError(
                    f"expected {{'{_CHOICE_KEY}': …}}, got {text[:80]!r}",
                    kind="invalid_output",
                    backend=self.name,
                    model=self.model,
                    output=text,
                ) from None
        return Completion(
            text=text,
            usage=usage,
            latency_s=latency,
            model=self.model,
            backend=self.name,
            logprobs=lps,
            finish_reason=finish,
        )

    def _post(self, payload: bytes, timeout_s: float | None) -> bytes:
        """The body of a 2xx answer, with client-level retries inside the deadline."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for attempt in range(self.settings.max_retries + 1):
            wait: float | None = None
            try:
                status, headers, raw = self._exchange(payload, deadline, timeout_s)
            except ModelError as exc:
                err = exc
            else:
                if 200 <= status < 300:
                    return raw
                err, wait = self._status_error(status, raw), _retry_after(headers)
            if attempt == self.settings.max_retries or not err.retryable:
                raise err
            wait = min(MAX_BACKOFF_S, 0.25 * 2**attempt) if wait is None else wait
            if wait > MAX_BACKOFF_S or (
                deadline is not None and time.monotonic() + wait >= deadline
            ):
                raise err  # asked to wait longer than we would: the tier's fallback is next
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _exchange(
        self, payload: bytes, deadline: float | None, timeout_s: float | None
    ) -> tuple[int, httpx.Headers, bytes]:
        """One request: status, headers and the whole body, read within the deadline."""
        token = _deadline.set(deadline)
        try:
            left = max(deadline - time.monotonic(), 1e-3) if deadline is not None else None
            with self.client.stream(
                "POST",
                self.url,
                content=payload,
                headers=self.headers,
                timeout=httpx.USE_CLIENT_DEFAULT if left is None else left,
            ) as resp:
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                    raise self._invalid(f"the response body is over {MAX_BODY_BYTES} bytes")
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise self._invalid(f"the response body is over {MAX_BODY_BYTES} bytes")
                    chunks.append(chunk)
                    if deadline is not None and time.monotonic() > deadline:
                        raise httpx.ReadTimeout("the call's deadline has passed")
                return resp.status_code, resp.headers, b"".join(chunks)
        except httpx.TimeoutException as exc:
            within = f"within {timeout_s:g} s" if timeout_s is not None else f"({_line(exc)})"
            raise self._err(f"no complete answer {within}", "timeout") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise self._err(f"bad base_url {self.settings.base_url!r}: {exc}", "config") from None
        except httpx.ConnectError as exc:
            raise self._err(
                f"cannot reach {self.settings.base_url}: {_line(exc)}", "connection"
            ) from None
        except httpx.TransportError as exc:
            raise self._err(
                f"the connection broke before the answer was complete: {_line(exc)}",
                "connection",
            ) from None
        except httpx.TooManyRedirects as exc:
            raise self._err(f"redirected in a loop: {_line(exc)}", "server") from None
        except httpx.HTTPError as exc:  # e.g. a body its Content-Encoding cannot decode
            raise self._err(
                f"unreadable response: {type(exc).__name__}: {_line(exc)}", "invalid_output"
            ) from None
        finally:
            _deadline.reset(token)

    def _status_error(self, status: int, raw: bytes) -> ModelError:
        detail = _error_detail(raw)
        if status == 408:
            return self._err(f"the server timed out (408): {detail}", "timeout")
        if status == 429 or status >= 500:
            return self._err(f"server error {status}: {detail}", "server")
        return self._err(f"request rejected ({status}): {detail}", "config")

    def _read(self, raw: bytes) -> tuple[str, Usage, list[float] | None, str | None]:
        """Text, usage, logprobs and finish reason of a chat-completion body, or a
        retryable ``invalid_output`` that says what is wrong with it."""
        try:
            data = json.loads(raw.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise self._invalid(f"the response is not UTF-8 (byte {exc.start})") from None
        except (ValueError, RecursionError) as exc:
            raise self._invalid(
                f"the response is not JSON ({_line(exc)}); it starts {_start(raw)}"
            ) from None
        if not isinstance(data, dict):
            raise self._invalid(f"the response is a JSON {type(data).__name__}, not an object")
        if "error" in data and not data.get("choices"):
            raise self._err(f"the server answered with an error: {_error_detail(raw)}", "server")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise self._invalid(f"the response has no choices; it starts {_start(raw)}")
        choice = choices[0]
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise self._invalid("the response's choices[0] has no message object")
        content = message.get("content")
        text = _content(content)
        if text is None:
            shape = type(content).__name__
            raise self._invalid(f"choices[0].message.content is a {shape}, not text")
        refusal = message.get("refusal")
        if not text and isinstance(refusal, str) and refusal:
            raise self._invalid(f"the model refused: {_line(refusal)[:120]}")
        usage: Any = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        finish = choice.get("finish_reason")
        return (
            text,
            Usage(_count(usage, "prompt_tokens"), _count(usage, "completion_tokens")),
            _logprobs(choice.get("logprobs")),
            finish if isinstance(finish, str) else None,
        )

    def _invalid(self, message: str) -> ModelError:
        return self._err(message, "invalid_output")

    def _err(self, message: str, kind: ErrorKind) -> ModelError:
        return ModelError(message, kind=kind, backend=self.name, model=self.model)


def _content(value: Any) -> str | None:
    """Message content as text: a string, null (no text), or a list of text parts."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(
        isinstance(p, dict) and isinstance(p.get("text"), str) for p in value
    ):
        return "".join(p["text"] for p in value)
    return None


def _logprobs(value: Any) -> list[float] | None:
    """Token logprobs where the server sent them well formed; otherwise none (they only feed
    confidence scores, so a malformed block is dropped rather than failing the answer)."""
    content = value.get("content") if isinstance(value, dict) else None
    if not isinstance(content, list) or not content:
        return None
    out: list[float] = []
    for token in content:
        lp = token.get("logprob") if isinstance(token, dict) else None
        if isinstance(lp, bool) or not isinstance(lp, int | float):
            return None
        out.append(float(lp))
    return out


def _count(usage: dict[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _retry_after(headers: httpx.Headers) -> float | None:
    """A ``Retry-After`` header in seconds (delta or HTTP date); None when absent or bad."""
    value = headers.get("retry-after")
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _error_detail(raw: bytes) -> str:
    """The message of an error body (``{"error": {"message": …}}`` or text), on one line."""
    text = raw.decode("utf-8", "replace")
    try:
        error = json.loads(text).get("error")
    except (ValueError, RecursionError, AttributeError):
        error = None
    if isinstance(error, dict):
        error = error.get("message")
    return _line(error if isinstance(error, str) else text)[:300] or "(empty body)"


def _line(value: object) -> str:
    return " ".join(str(value).split())


def _start(raw: bytes) -> str:
    return repr(raw[:60].decode("utf-8", "replace")) if raw else "(empty body)"


def from_tier(model: str | None, settings: OpenAICompatSettings) -> OpenAICompatBackend:
    if not model:
        raise ModelError(
            "an openai_compat tier needs `model:` (the served model's name)",
            kind="config",
            backend="openai_compat",
        )
    return OpenAICompatBackend(model, settings)
