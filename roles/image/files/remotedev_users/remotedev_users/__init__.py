"""Named users with roles on one shared Jupyter Server.

- UsersIdentityProvider (ServerApp.identity_provider_class): a request is
  identified by a user's token (``Authorization: token ...`` or ``?token=``)
  or by the login cookie of a password login. The login form takes a user
  name and a password; a form with only a password (local VS Code's flow)
  logs in the one user whose password it is, and is refused when it matches
  more than one.
- RoleAuthorizer (ServerApp.authorizer_class): admin may do anything, user
  anything but shut the server down, viewer only read.
- The extension (jpserver_extensions) records who started each kernel
  (``remotedev_user`` in the kernel model) and writes audit lines naming the
  user for logins, kernel starts and execute requests.

Users come from a JSON file (a mounted Secret), re-read when its content
changes, at most every ``reload_interval`` seconds, so adding, removing or
rotating a user needs no restart::

  {"users": [{"name": "ada", "role": "user",
              "password_hash": "argon2:$argon2id$...", "token_sha256": "<64 hex>"}]}

Tokens are stored as their sha256 (they are high-entropy, so a plain digest
is enough); passwords as Jupyter's ``argon2:`` hashes.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import dataclasses
import hashlib
import hmac
import html
import json
import os
import re
import threading
import time
import typing as t

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import PasswordIdentityProvider, User
from jupyter_server.auth.login import LoginFormHandler
from jupyter_server.auth.security import passwd_check
from traitlets import Bool, Float, Int, Unicode, default

__version__ = "1.0.0"

ROLES = ("admin", "user", "viewer")
AUDIT = "remotedev_users audit:"
# The identity of the shared instance token and password: not a valid user
# name, so no user in the file can take it.
INSTANCE_USER = "_instance"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9._-]{0,62}$")
TOKEN_SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
# A hash of a random password with Jupyter's argon2 costs: verified when a
# login names an unknown user, so that it takes as long as a known one.
_DUMMY_HASH = (
    "argon2:$argon2id$v=19$m=10240,t=10,p=8$kgSY6RyeeZk6rYK6Ft64TQ$IDiu3TDnRfhBjOC+L+2nbRcsrBeYCA7EmszFFB+H5qI"
)

# Who the request being handled is: set by the authorizer, read where a
# kernel is started (same asyncio task as the request).
_REQUEST_USER: contextvars.ContextVar[str] = contextvars.ContextVar("remotedev_users_request_user", default="")


def _jupyter_server_extension_points():
    return [{"module": "remotedev_users"}]


# ---------------------------------------------------------------- users file


@dataclasses.dataclass(frozen=True)
class Account:
    name: str
    role: str
    password_hash: str = ""
    token_sha256: str = ""

    @property
    def fingerprint(self) -> str:
        """Changes when the credentials change: kept in the login cookie, so
        rotating a password or a token ends the sessions made with the old."""
        material = "\0".join((self.name, self.password_hash, self.token_sha256)).encode()
        return hashlib.sha256(material).hexdigest()[:32]


def parse_users(data: t.Any) -> dict[str, Account]:
    """The accounts of a users document; ValueError naming the entry when it
    is malformed (never quoting a credential)."""
    if not isinstance(data, dict) or not isinstance(data.get("users"), list):
        raise ValueError("the users file must be a JSON object with a list 'users'")
    accounts: dict[str, Account] = {}
    for index, entry in enumerate(data["users"]):
        where = f"users[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} is not an object")
        name = entry.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise ValueError(f"{where}.name must match {NAME_PATTERN.pattern}")
        where = f"users[{index}] ({name})"
        if name in accounts:
            raise ValueError(f"{where}: the name appears twice")
        role = entry.get("role")
        if role not in ROLES:
            raise ValueError(f"{where}.role must be one of {', '.join(ROLES)}")
        password_hash = entry.get("password_hash") or ""
        if not isinstance(password_hash, str) or (password_hash and not password_hash.startswith("argon2:$argon2")):
            raise ValueError(f"{where}.password_hash must be a Jupyter argon2 hash (argon2:$argon2id$...)")
        token_sha256 = entry.get("token_sha256") or ""
        if not isinstance(token_sha256, str) or (token_sha256 and not TOKEN_SHA256_PATTERN.match(token_sha256)):
            raise ValueError(f"{where}.token_sha256 must be 64 lower-case hex digits")
        if not password_hash and not token_sha256:
            raise ValueError(f"{where} has neither password_hash nor token_sha256")
        accounts[name] = Account(name, role, password_hash, token_sha256)
    return accounts


class UsersFile:
    """The accounts in a file, re-read when its content has changed, checked
    at most every `interval` seconds. A missing or malformed file means no
    accounts (fail closed: a broken update must not keep a removed user)."""

    def __init__(self, path: str, interval: float, log, clock=time.monotonic):
        self.path, self.interval, self.log, self.clock = path, interval, log, clock
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._digest: str | None = None
        self._accounts: dict[str, Account] = {}

    def accounts(self) -> dict[str, Account]:
        now = self.clock()
        if now - self._checked < self.interval:
            return self._accounts
        with self._lock:
            if now - self._checked >= self.interval:
                self._checked = now
                self._reload()
        return self._accounts

    def _reload(self) -> None:
        try:
            with open(self.path, "rb") as stream:
                raw = stream.read()
        except OSError as exc:
            digest = "unreadable:" + type(exc).__name__
            if digest != self._digest:
                self.log.error("remotedev_users: cannot read the users file %s (%s): no user can log in",
                               self.path, exc.strerror or type(exc).__name__)
            self._digest, self._accounts = digest, {}
            return
        digest = hashlib.sha256(raw).hexdigest()
        if digest == self._digest:
            return
        self._digest = digest
        try:
            self._accounts = parse_users(json.loads(raw))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            # The message names entries, never their credentials; a JSON
            # syntax error would quote the document, so it is not shown.
            reason = "not valid JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)
            self.log.error("remotedev_users: the users file %s is invalid (%s): no user can log in", self.path, reason)
            self._accounts = {}
            return
        by_role = {role: sorted(a.name for a in self._accounts.values() if a.role == role) for role in ROLES}
        self.log.info("remotedev_users: %d users from %s: %s", len(self._accounts), self.path,
                      "; ".join(f"{role}: {', '.join(names) or '-'}" for role, names in by_role.items()))


class FailureLimiter:
    """At most `limit` failed logins per client within `window` seconds."""

    def __init__(self, limit: int, window: float, clock=time.monotonic, max_clients: int = 10000):
        self.limit, self.window, self.clock, self.max_clients = limit, window, clock, max_clients
        self._failures: collections.OrderedDict[str, collections.deque] = collections.OrderedDict()

    def _recent(self, client: str) -> collections.deque:
        failures = self._failures.get(client)
        if failures is None:
            return collections.deque()
        horizon = self.clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[client]
        return failures

    def blocked(self, client: str) -> bool:
        return self.limit > 0 and len(self._recent(client)) >= self.limit

    def fail(self, client: str) -> None:
        failures = self._failures.setdefault(client, collections.deque())
        failures.append(self.clock())
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return bool(passwd_check(password_hash, password))
    except Exception:  # noqa: BLE001 - a malformed hash never logs anyone in
        return False


def match_password(accounts: dict[str, Account], username: str, password: str) -> tuple[Account | None, str]:
    """The account a login form logs in, and why not ("" on success).

    With a user name: that user's password; an unknown name costs the same
    argon2 verification as a known one. Without (VS Code): every user with a
    password is checked, and more than one match is refused."""
    if not password:
        return None, "no password"
    if username:
        account = accounts.get(username)
        if account is None or not account.password_hash:
            _password_matches(_DUMMY_HASH, password)
            return None, "bad credentials"
        return (account, "") if _password_matches(account.password_hash, password) else (None, "bad credentials")
    matches = [a for a in accounts.values() if a.password_hash and _password_matches(a.password_hash, password)]
    if len(matches) == 1:
        return matches[0], ""
    return None, "ambiguous password" if matches else "bad credentials"


def match_token(accounts: dict[str, Account], token: str) -> Account | None:
    """The account whose token this is; every digest is compared in constant time."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    found = None
    for account in accounts.values():
        if account.token_sha256 and hmac.compare_digest(account.token_sha256, digest):
            found = account
    return found


def is_allowed(role: str | None, action: str, resource: str) -> bool:
    """Roles: admin everything; user everything but shutting the server down;
    viewer reads only (no execute: no kernel or terminal websocket)."""
    if role == "admin":
        return True
    if role == "user":
        return not (resource == "server" and action != "read")
    if role == "viewer":
        return action == "read"
    return False


# ------------------------------------------------------- identity and login


@dataclasses.dataclass
class RemotedevUser(User):
    role: str = "viewer"


_LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Jupyter Server: log in</title>
<style>body{{font-family:sans-serif;max-width:22em;margin:4em auto}}label,input,button{{display:block;width:100%;margin:.3em 0}}
.error{{color:#b00}}</style></head>
<body><h1>Log in</h1>{message}
<form action="{action}" method="post">{xsrf}
<label for="username_input">User name</label><input type="text" id="username_input" name="username" autocomplete="username" autofocus>
<label for="password_input">Password</label><input type="password" id="password_input" name="password" autocomplete="current-password">
<button type="submit" id="login_submit">Log in</button>
</form></body></html>
"""


class UsersLoginHandler(LoginFormHandler):
    """The login form with a user name; POSTs with a password only (VS Code)
    work as well. Password checks run in a thread: argon2 takes tens of ms."""

    def _render(self, message=None):
        error = (message or {}).get("error")
        self.write(_LOGIN_PAGE.format(
            message=f'<p class="error">{html.escape(error)}</p>' if error else "",
            action=html.escape(self.base_url + "login?next=" + self.get_argument("next", default=self.base_url), quote=True),
            xsrf=self.xsrf_form_html(),
        ))

    @allow_unauthenticated
    async def post(self):
        provider = self.identity_provider
        client = self.request.remote_ip or "-"
        if not isinstance(provider, UsersIdentityProvider):
            return super().post()
        if provider.limiter.blocked(client):
            provider.log.warning("%s login refused client=%s reason=too-many-failures", AUDIT, client)
            self.set_status(429)
            self._render(message={"error": "Too many failed logins; try again later"})
            return
        username = self.get_argument("username", default="").strip()
        password = self.get_argument("password", default="")
        user, reason = await asyncio.get_running_loop().run_in_executor(
            None, provider.login, username, password)
        if user is None:
            provider.limiter.fail(client)
            # The typed name is not logged: it may be a password typed in the wrong field.
            provider.log.warning("%s login failed client=%s reason=%s", AUDIT, client, reason)
            self.set_status(401)
            self._render(message={"error": "Invalid credentials"})
            return
        self.current_user = user
        provider.log.info("%s login user=%s role=%s method=password client=%s", AUDIT, user.username, user.role, client)
        provider.set_login_cookie(self, user)
        self._redirect_safe(self.get_argument("next", default=self.base_url))


class UsersIdentityProvider(PasswordIdentityProvider):
    """Users from a mounted file, by token or by password login."""

    users_file = Unicode("", config=True, help="JSON file of the users (a mounted Secret).")
    reload_interval = Float(5.0, config=True, help="Seconds between checks of the users file for changes.")
    instance_credentials = Bool(
        True, config=True,
        help="Whether the instance token and password (IdentityProvider.token, hashed_password) log in, as the admin '_instance'.")
    max_login_failures = Int(20, config=True, help="Failed logins per client within login_failure_window before refusing (0: no bound).")
    login_failure_window = Float(300.0, config=True, help="Seconds over which max_login_failures counts.")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.users = UsersFile(self.users_file, self.reload_interval, self.log)
        self.limiter = FailureLimiter(self.max_login_failures, self.login_failure_window)
        self._token_logins: dict[tuple[str, str], float] = {}

    @default("login_handler_class")
    def _default_login_handler_class(self):
        return UsersLoginHandler

    @default("updatable_fields")
    def _default_updatable_fields(self):
        # Names come from the users file; a user may not rename themselves.
        return []

    @property
    def auth_enabled(self) -> bool:
        return True

    @property
    def login_available(self) -> bool:
        return True

    # -- helpers

    def _instance_account(self) -> Account | None:
        if not self.instance_credentials or not (self.token or self.hashed_password):
            return None
        return Account(INSTANCE_USER, "admin", self.hashed_password, hashlib.sha256(self.token.encode()).hexdigest() if self.token else "")

    @staticmethod
    def to_user(account: Account) -> RemotedevUser:
        return RemotedevUser(username=account.name, role=account.role)

    def login(self, username: str, password: str) -> tuple[RemotedevUser | None, str]:
        accounts = dict(self.users.accounts())
        instance = self._instance_account()
        if instance is not None and not username:
            # Only the user-less form (VS Code, the stock page) may use the
            # instance password; it counts toward ambiguity like any user.
            accounts[INSTANCE_USER] = instance
        account, reason = match_password(accounts, username, password)
        return (self.to_user(account), "") if account else (None, reason)

    # -- IdentityProvider API

    async def get_user_token(self, handler) -> User | None:
        token = self.get_token(handler)
        if not token:
            return None
        account = match_token(self.users.accounts(), token)
        instance = self._instance_account()
        if account is None and instance is not None and self.token and hmac.compare_digest(token.encode(), self.token.encode()):
            account = instance
        if account is None:
            return None
        client = handler.request.remote_ip or "-"
        # One audit line per user and client every ten minutes: API clients
        # without a cookie jar send the token with every request.
        key, now = (account.name, client), time.monotonic()
        if now - self._token_logins.get(key, float("-inf")) > 600:
            if len(self._token_logins) > 10000:
                self._token_logins.clear()
            self._token_logins[key] = now
            self.log.info("%s login user=%s role=%s method=token client=%s", AUDIT, account.name, account.role, client)
        return self.to_user(account)

    def user_to_cookie(self, user: User) -> str:
        account = self._account(user.username)
        return json.dumps({"username": user.username, "fingerprint": account.fingerprint if account else ""})

    def user_from_cookie(self, cookie_value: str) -> User | None:
        try:
            data = json.loads(cookie_value)
            username, fingerprint = data["username"], data["fingerprint"]
        except (ValueError, KeyError, TypeError):
            return None
        account = self._account(username)
        if account is None or not fingerprint or not hmac.compare_digest(account.fingerprint, str(fingerprint)):
            return None
        return self.to_user(account)

    def _account(self, username: str) -> Account | None:
        if username == INSTANCE_USER:
            return self._instance_account()
        return self.users.accounts().get(username)

    def process_login_form(self, handler) -> User | None:
        """Only the stock LoginFormHandler calls this (our handler calls login())."""
        return self.login(handler.get_argument("username", default="").strip(), handler.get_argument("password", default=""))[0]

    def validate_security(self, app, ssl_options=None) -> None:
        super().validate_security(app, ssl_options)
        if not self.users_file:
            self.log.warning("remotedev_users: UsersIdentityProvider.users_file is not set: only the instance credentials log in")
        self.users.accounts()


class RoleAuthorizer(Authorizer):
    """Applies the roles of RemotedevUser; anyone else is refused."""

    def is_authorized(self, handler, user, action, resource) -> bool:
        role = getattr(user, "role", None)
        if user is not None:
            _REQUEST_USER.set(user.username)
        allowed = is_allowed(role, action, resource)
        if not allowed:
            self.log.warning("%s refused user=%s role=%s action=%s resource=%s", AUDIT,
                             getattr(user, "username", "-"), role, action, resource)
        return allowed


# ------------------------------------------------------- kernels and audit


def _patch_kernel_manager(serverapp) -> None:
    """Record who starts a kernel (remotedev_user in its model) and log it."""
    manager = serverapp.kernel_manager
    if getattr(manager, "_remotedev_users", None) is not None:
        return
    owners: dict[str, str] = {}
    manager._remotedev_users = owners
    start_kernel, kernel_model = manager.start_kernel, manager.kernel_model

    async def start_kernel_recorded(*args, **kwargs):
        user = _REQUEST_USER.get()
        if user and "env" not in kwargs:
            # The kernel's environment names its user: kernel provisioners label
            # what they start with it (remotedev_kernel_pods: the pod's
            # remotedev.jupyter/user label). The kernel inherits the server's
            # environment as it would without this.
            kwargs["env"] = dict(os.environ, KERNEL_USERNAME=user)
        kernel_id = await start_kernel(*args, **kwargs)
        if user and kernel_id not in owners:
            owners[kernel_id] = user
            serverapp.log.info("%s kernel_start user=%s kernel=%s name=%s", AUDIT, user, kernel_id,
                               kwargs.get("kernel_name") or getattr(manager.get_kernel(kernel_id), "kernel_name", "-"))
        return kernel_id

    def kernel_model_recorded(kernel_id):
        model = kernel_model(kernel_id)
        model["remotedev_user"] = owners.get(kernel_id, "")
        return model

    manager.start_kernel = start_kernel_recorded
    manager.kernel_model = kernel_model_recorded


def _message_type(connection, message) -> str:
    """The msg_type of a websocket message, for the cheap cases worth a look."""
    from jupyter_server.services.kernels.connection.base import deserialize_binary_message, deserialize_msg_from_ws_v1

    if connection.subprotocol == "v1.kernel.websocket.jupyter.org":
        parts = deserialize_msg_from_ws_v1(message)[1]
        header = parts[0] if parts else b"{}"
        return json.loads(header).get("msg_type", "")
    if isinstance(message, bytes):
        return deserialize_binary_message(message)["header"].get("msg_type", "")
    return json.loads(message)["header"].get("msg_type", "")


def _patch_execute_audit(log) -> None:
    from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

    if getattr(ZMQChannelsWebsocketConnection, "_remotedev_users", False):
        return
    original = ZMQChannelsWebsocketConnection.handle_incoming_message

    def handle_incoming_message(self, incoming_msg):
        marker = b"execute_request" if isinstance(incoming_msg, bytes) else "execute_request"
        if marker in incoming_msg:
            try:
                if _message_type(self, incoming_msg) == "execute_request":
                    user = getattr(self.websocket_handler.current_user, "username", "-")
                    log.info("%s execute user=%s kernel=%s", AUDIT, user, self.kernel_id)
            except Exception:  # noqa: BLE001 - the audit never breaks a message
                log.debug("remotedev_users: could not read a message type", exc_info=True)
        return original(self, incoming_msg)

    ZMQChannelsWebsocketConnection.handle_incoming_message = handle_incoming_message
    ZMQChannelsWebsocketConnection._remotedev_users = True


def _load_jupyter_server_extension(serverapp):
    _patch_kernel_manager(serverapp)
    _patch_execute_audit(serverapp.log)
    provider = serverapp.identity_provider
    serverapp.log.info(
        "remotedev_users %s: audit of kernel starts and execute requests; identity provider %s, authorizer %s",
        __version__, type(provider).__name__, type(serverapp.authorizer).__name__)
