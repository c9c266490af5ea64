# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Jupyter Server REST and kernel-channel client (private to this collection).

REST calls go through ansible.module_utils.urls (urllib underneath, with
validate_certs, ca_path, proxies and timeouts handled the Ansible way). Code
runs over the kernel's websocket (/api/kernels/<id>/channels) with the Jupyter
messaging protocol 5.3 in JSON text frames, using websocket-client.

Credentials never appear in messages: the token travels in the Authorization
header, never in a URL, and URLs are shown without user info or query.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import time
import traceback
import uuid

from http.client import HTTPException
from http.cookiejar import CookieJar
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit, urlunsplit

from ansible.module_utils.urls import Request

try:
    import websocket

    HAS_WEBSOCKET = True
    WEBSOCKET_IMPORT_ERROR = None
except ImportError:
    HAS_WEBSOCKET = False
    WEBSOCKET_IMPORT_ERROR = traceback.format_exc()

# The options of every module that talks to a running server (documented in
# doc_fragments/_server_connection.py).
SERVER_CONNECTION_ARGS = dict(
    url=dict(type="str", required=True),
    # raw, not str: a mapping is refused, never sent as its repr.
    token=dict(type="raw", no_log=True),
    password=dict(type="raw", no_log=True),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    timeout=dict(type="int", default=30),
)


PROTOCOL_VERSION = "5.3"
USER_AGENT = "remotedev.jupyter.server_info"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class ServerInfoError(Exception):
    """A failure with a message fit for the user (no credentials in it)."""


# ---------------------------------------------------------------- URLs


def normalize_url(url):
    """The server's base URL with a trailing slash, without query or fragment."""
    if not isinstance(url, str) or not url.strip():
        raise ServerInfoError("url: give the server's base URL, e.g. http://127.0.0.1:8888/ (with base_url)")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a port that is no number or out of range
    except ValueError as exc:
        # Not the URL itself: it may hold credentials that cannot be cut out of an unparsable URL.
        raise ServerInfoError("url: not a valid URL (%s); give the server's base URL, e.g. http://127.0.0.1:8888/"
                              % exc) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServerInfoError("url: %r is not an http:// or https:// URL with a host" % redact(url))
    if parts.username or parts.password:
        raise ServerInfoError("url: do not put credentials in the URL; use token or password")
    if parts.query and "token=" in parts.query:
        raise ServerInfoError("url: do not put the token in the URL; use the token option")
    path = parts.path or "/"
    if not path.endswith("/"):
        path += "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def redact(url):
    """url without user info, query and fragment (safe to show)."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if ":" in host:
        host = "[%s]" % host
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = "%s:%d" % (host, port) if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def endpoint(base_url, path):
    return base_url + path.lstrip("/")


def websocket_url(http_url):
    parts = urlsplit(http_url)
    scheme = {"http": "ws", "https": "wss"}[parts.scheme]
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


# ---------------------------------------------------------------- results


def summarize_kernelspecs(payload):
    """(default kernel name, {name: spec with resources}) from GET /api/kernelspecs."""
    if not isinstance(payload, dict) or not isinstance(payload.get("kernelspecs"), dict):
        raise ServerInfoError("GET api/kernelspecs: unexpected answer (not a kernelspec listing)")
    specs = {}
    for name, entry in payload["kernelspecs"].items():
        spec = dict(entry.get("spec") or {})
        spec["resources"] = entry.get("resources") or {}
        specs[name] = spec
    return payload.get("default"), specs


def strip_ansi(text):
    return _ANSI.sub("", text)


def new_message(msg_type, content, session, channel="shell", username="remotedev"):
    """A Jupyter protocol message as the server's JSON websocket expects it."""
    msg_id = uuid.uuid4().hex
    return {
        "header": {
            "msg_id": msg_id,
            "msg_type": msg_type,
            "username": username,
            "session": session,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
            "version": PROTOCOL_VERSION,
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
        "buffers": [],
        "channel": channel,
    }


def execute_request(code, session):
    return new_message("execute_request", {
        "code": code,
        "silent": False,
        "store_history": False,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }, session)


class ExecutionCollector:
    """Collects the replies to one execute_request.

    Done when both the shell execute_reply and the iopub status idle for our
    request have arrived (the kernel publishes all output before idle).
    """

    def __init__(self, msg_id):
        self.msg_id = msg_id
        self.stdout = []
        self.stderr = []
        self.result = None
        self.data = {}
        self.error = None
        self.reply = None
        self.idle = False
        self.execution_count = None

    @property
    def done(self):
        return self.idle and self.reply is not None

    def feed(self, message):
        if not isinstance(message, dict):
            return
        parent = message.get("parent_header") or {}
        if parent.get("msg_id") != self.msg_id:
            return
        msg_type = (message.get("header") or {}).get("msg_type") or message.get("msg_type")
        content = message.get("content") or {}
        channel = message.get("channel")
        if msg_type == "stream":
            (self.stderr if content.get("name") == "stderr" else self.stdout).append(content.get("text", ""))
        elif msg_type == "execute_result":
            self.data = content.get("data") or {}
            self.result = self.data.get("text/plain")
            self.execution_count = content.get("execution_count", self.execution_count)
        elif msg_type == "error":
            self.error = content
        elif msg_type == "status" and channel in (None, "iopub"):
            if content.get("execution_state") == "idle":
                self.idle = True
        elif msg_type == "execute_reply":
            self.reply = content
            self.execution_count = content.get("execution_count", self.execution_count)
            if content.get("status") == "error" and self.error is None:
                self.error = content

    def summary(self):
        status = (self.reply or {}).get("status") or ("error" if self.error else "unknown")
        error = self.error or {}
        return {
            "status": status,
            "stdout": "".join(self.stdout),
            "stderr": "".join(self.stderr),
            "result": self.result,
            "data": self.data,
            "execution_count": self.execution_count,
            "ename": error.get("ename"),
            "evalue": error.get("evalue"),
            "traceback": [strip_ansi(line) for line in error.get("traceback") or []],
        }


# ---------------------------------------------------------------- client


class JupyterServerClient:
    """REST calls against one Jupyter Server, authenticated by token or password."""

    def __init__(self, url, token=None, password=None, validate_certs=True, ca_path=None, timeout=30):
        self.base_url = normalize_url(url)
        self.shown_url = redact(self.base_url)
        for option, value in (("token", token), ("password", password)):
            if value is not None and not isinstance(value, str):
                kind = {dict: "mapping", list: "list", int: "number", float: "number", bool: "boolean"}.get(
                    type(value), type(value).__name__)
                raise ServerInfoError("%s must be a string, not a %s (it is never sent as its text form)"
                                      % (option, kind))
        if ca_path is not None and not os.path.isfile(ca_path):
            raise ServerInfoError("ca_path: %s is not a file (the PEM file of the CA certificates to trust)" % ca_path)
        self.token = token or None
        self.password = password or None
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.cookies = CookieJar()
        self._request = Request(
            validate_certs=validate_certs,
            ca_path=ca_path,
            timeout=timeout,
            cookies=self.cookies,
            follow_redirects="none",
            use_netrc=False,
            http_agent=USER_AGENT,
        )

    # -- low level

    def _cookie(self, name):
        for cookie in self.cookies:
            if cookie.name == name:
                return cookie.value
        return None

    def auth_headers(self, method="GET"):
        headers = {}
        if self.token:
            headers["Authorization"] = "token %s" % self.token
        xsrf = self._cookie("_xsrf")
        if xsrf and method not in ("GET", "HEAD", "OPTIONS"):
            headers["X-XSRFToken"] = xsrf
        return headers

    def _open(self, method, path, data=None, headers=None):
        """(status, reason, body bytes, response headers) for one request."""
        url = endpoint(self.base_url, path)
        all_headers = self.auth_headers(method)
        all_headers.update(headers or {})
        try:
            response = self._request.open(method, url, data=data, headers=all_headers)
            return response.getcode(), getattr(response, "reason", ""), response.read(), response.headers
        except HTTPError as exc:
            body = exc.read() if exc.fp is not None else b""
            return exc.code, exc.reason, body, exc.headers
        except (URLError, socket.timeout, ssl.SSLError, ConnectionError, HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            if isinstance(reason, socket.timeout) or isinstance(exc, socket.timeout) or "timed out" in str(reason):
                reason = "no answer within %s seconds" % self.timeout
            elif "CERTIFICATE_VERIFY_FAILED" in str(reason):
                reason = "%s (trust its CA with ca_path, or set validate_certs to false)" % reason
            raise ServerInfoError("cannot reach Jupyter Server at %s (%s %s): %s"
                                  % (self.shown_url, method, path, reason)) from None

    def call(self, method, path, body=None, expect=(200,)):
        """A JSON API call; returns the decoded answer (None when empty)."""
        data = None
        headers = {}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        status, reason, payload, _headers = self._open(method, path, data, headers)
        if status in (401, 403):
            raise ServerInfoError(self._auth_failure(method, path, status))
        if status not in expect:
            hint = ""
            if status == 404 and path == "api":
                hint = " (is url the server's base URL, including its base_url path?)"
            raise ServerInfoError("Jupyter Server at %s answered %s %s with HTTP %s %s%s%s"
                                  % (self.shown_url, method, path, status, reason, _api_message(payload), hint))
        if not payload:
            return None
        try:
            return json.loads(payload.decode("utf-8"))
        except ValueError:
            raise ServerInfoError("%s %s at %s did not return JSON: is this a Jupyter Server, and does url "
                                  "include its base_url?" % (method, path, self.shown_url)) from None

    def _auth_failure(self, method, path, status):
        if self.token:
            why = "the token was not accepted"
        elif self.password:
            why = "the password login did not give access"
        else:
            why = "no token or password was given"
        return "Jupyter Server at %s refused %s %s (HTTP %s): %s" % (self.shown_url, method, path, status, why)

    # -- login

    def login(self):
        """Password login (the browser form): sets the session and _xsrf cookies."""
        status, reason, _payload, _headers = self._open("GET", "login")
        if status != 200 or self._cookie("_xsrf") is None:
            raise ServerInfoError("password login to %s failed: GET login answered HTTP %s %s without an _xsrf "
                                  "cookie (is password login enabled?)" % (self.shown_url, status, reason))
        form = urlencode({"password": self.password, "_xsrf": self._cookie("_xsrf")}).encode("ascii")
        status, reason, _payload, _headers = self._open(
            "POST", "login", data=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
        # Success is a redirect to the next page; a wrong password renders the form again (401/200).
        if status not in (301, 302, 303):
            raise ServerInfoError("password login to %s failed (HTTP %s): wrong password" % (self.shown_url, status))

    # -- API

    def version(self):
        answer = self.call("GET", "api")
        if not isinstance(answer, dict) or "version" not in answer:
            raise ServerInfoError("GET api at %s did not return a Jupyter Server version: is url the server's "
                                  "base URL (including base_url)?" % self.shown_url)
        return answer["version"]

    def status(self):
        return self.call("GET", "api/status")

    def kernelspecs(self):
        return summarize_kernelspecs(self.call("GET", "api/kernelspecs"))

    def kernels(self):
        return self.call("GET", "api/kernels")

    def start_kernel(self, name):
        return self.call("POST", "api/kernels", {"name": name}, expect=(200, 201))

    def shutdown_kernel(self, kernel_id):
        self.call("DELETE", "api/kernels/%s" % kernel_id, expect=(200, 204))

    # -- kernel channel

    def websocket_options(self):
        headers = ["User-Agent: %s" % USER_AGENT]
        if self.token:
            headers.append("Authorization: token %s" % self.token)
        options = {"header": headers, "timeout": self.timeout, "suppress_origin": True}
        cookie = "; ".join("%s=%s" % (c.name, c.value) for c in self.cookies)
        if cookie:
            options["cookie"] = cookie
        if urlsplit(self.base_url).scheme == "https":
            sslopt = {"cert_reqs": ssl.CERT_REQUIRED if self.validate_certs else ssl.CERT_NONE}
            if not self.validate_certs:
                sslopt["check_hostname"] = False
            if self.ca_path:
                sslopt["ca_certs"] = self.ca_path
            options["sslopt"] = sslopt
        return options

    def run_code(self, kernel_id, code, timeout):
        """Execute code in a running kernel; returns ExecutionCollector.summary()."""
        session = uuid.uuid4().hex
        path = "api/kernels/%s/channels?%s" % (kernel_id, urlencode({"session_id": session}))
        url = websocket_url(endpoint(self.base_url, path))
        try:
            conn = websocket.create_connection(url, **self.websocket_options())
        except websocket.WebSocketBadStatusException as exc:
            if exc.status_code in (401, 403):
                raise ServerInfoError(self._auth_failure("GET", "api/kernels/<id>/channels", exc.status_code)) from None
            raise ServerInfoError("kernel websocket at %s refused (HTTP %s)" % (self.shown_url, exc.status_code)) from None
        except (websocket.WebSocketException, OSError) as exc:
            raise ServerInfoError("cannot open the kernel websocket at %s: %s" % (self.shown_url, exc)) from None
        try:
            request = execute_request(code, session)
            collector = ExecutionCollector(request["header"]["msg_id"])
            conn.send(json.dumps(request))
            deadline = time.monotonic() + timeout
            while not collector.done:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ServerInfoError("the code did not finish within %s seconds (code_timeout)" % timeout)
                conn.settimeout(remaining)
                try:
                    frame = conn.recv()
                except websocket.WebSocketTimeoutException:
                    continue
                except websocket.WebSocketConnectionClosedException:
                    raise ServerInfoError("the kernel websocket closed before the code finished "
                                          "(did the kernel die?)") from None
                if isinstance(frame, bytes):
                    continue  # binary frames carry buffers we do not ask for
                try:
                    collector.feed(json.loads(frame))
                except ValueError:
                    continue
            return collector.summary()
        finally:
            conn.close()


def _api_message(payload):
    """The 'message' of a Jupyter error answer, shortened, or ''."""
    try:
        message = json.loads(payload.decode("utf-8")).get("message")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return ""
    if not message:
        return ""
    message = str(message)
    return ": " + (message if len(message) <= 300 else message[:297] + "...")


def probe(client):
    """Everything server_info returns; only GET requests after the login (nothing is started)."""
    if client.password:
        client.login()
    info = {"url": client.shown_url, "version": client.version()}
    info["status"] = client.status()
    info["default_kernel"], info["kernelspecs"] = client.kernelspecs()
    info["kernels"] = client.kernels()
    return info
