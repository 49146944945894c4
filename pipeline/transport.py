"""The requests sessions downloads run on, one per thread: sockets opened only through the
AddressGuard and reported to a hook (the download's SocketDeadline, in pipeline/deadline.py);
no proxy, no cookies kept.
"""

from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Callable, Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from pipeline.errors import SourceRefused
from pipeline.netguard import AddressGuard

Hook = Callable[[socket.socket], None]


def guarded_session(guard: AddressGuard, headers: Mapping[str, str], on_socket: Hook) -> requests.Session:
    """A session connecting through `guard`, reporting each socket it uses to `on_socket`."""
    session = requests.Session()
    # Environment proxies would connect for us, to addresses the guard never sees.
    session.trust_env = False
    session.headers.update(headers)
    # No cookie may carry over from one photo's source to the next.
    session.cookies = RequestsCookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    adapter = GuardedAdapter(guard, on_socket=on_socket)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class ThreadSessions:
    """A guarded session per thread, made on first use (requests sessions are not thread-safe)."""

    def __init__(self, guard: AddressGuard, headers: Mapping[str, str], on_socket: Hook) -> None:
        self._new = functools.partial(guarded_session, guard, headers, on_socket)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[requests.Session] = []

    def get(self) -> requests.Session:
        """This thread's session."""
        if (session := getattr(self._local, "session", None)) is None:
            session = self._local.session = self._new()
            with self._lock:
                self._all.append(session)
        return session

    def close(self) -> None:
        """Close every thread's session and its connections; call when none is in use."""
        with self._lock:
            sessions, self._all, self._local = self._all, [], threading.local()
        for session in sessions:
            session.close()


def _ignore(sock: socket.socket) -> None:
    """The default socket hook: nothing to watch."""


if TYPE_CHECKING:
    _Base = HTTPConnection
else:
    _Base = object  # at run time the mixin sits in front of HTTPConnection or HTTPSConnection


class _GuardedMixin(_Base):
    """Opens the socket through an AddressGuard and reports each socket a request runs on."""

    def __init__(self, *args: Any, guard: AddressGuard, on_socket: Hook = _ignore, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._guard = guard
        self._on_socket = on_socket

    def _new_conn(self) -> socket.socket:
        """Connect through the guard, raising what urllib3 would so requests maps it as usual."""
        timeout = self.timeout if isinstance(self.timeout, int | float) else socket.getdefaulttimeout()
        try:
            sock = self._guard.connect(self._dns_host, self.port, timeout, self.socket_options or ())
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"connecting to {self.host} timed out ({timeout} s)") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        return sock

    # The hook gets every socket a request runs on, so that a deadline can shut it down. An HTTPS
    # socket exists only once its handshake is done: the handshake is bounded by the timeouts alone.
    def connect(self) -> None:
        """Connect (for HTTPS, also the TLS handshake), then report the socket."""
        super().connect()
        self._on_socket(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        """Report a kept-alive socket before it is reused; a new one is reported by connect()."""
        if self.sock is not None:
            self._on_socket(self.sock)
        super().request(*args, **kwargs)


class GuardedHTTPConnection(_GuardedMixin, HTTPConnection):
    """An HTTP connection whose socket goes only to addresses the guard allows."""


class GuardedHTTPSConnection(_GuardedMixin, HTTPSConnection):
    """An HTTPS connection to a guarded address; the certificate is still checked for the URL's host."""


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedPoolManager(PoolManager):
    """A PoolManager whose pools build guarded connections, given `conn_kw` (guard, on_socket)."""

    def __init__(self, *args: Any, conn_kw: dict[str, Any], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        # Added in _new_pool, after the pool key is built: the key has no field for them.
        self._conn_kw = conn_kw

    def _new_pool(
        self, scheme: str, host: str, port: int, request_context: dict[str, Any] | None = None
    ) -> HTTPConnectionPool:
        """Create a pool whose connections receive the guard and the socket hook."""
        context = dict(self.connection_pool_kw if request_context is None else request_context)
        return super()._new_pool(scheme, host, port, {**context, **self._conn_kw})


class GuardedAdapter(HTTPAdapter):
    """A requests adapter that connects through an AddressGuard and never through a proxy."""

    def __init__(self, guard: AddressGuard, *, on_socket: Hook = _ignore) -> None:
        self._conn_kw = {"guard": guard, "on_socket": on_socket}
        super().__init__(pool_connections=8, pool_maxsize=2)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kw: Any) -> None:
        """Build the guarded pool manager in place of requests' own."""
        self._pool_connections, self._pool_maxsize, self._pool_block = connections, maxsize, block
        self.poolmanager = GuardedPoolManager(
            num_pools=connections, maxsize=maxsize, block=block, conn_kw=self._conn_kw, **kw
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """Refuse: a proxy would connect for us, to addresses the guard never sees."""
        raise SourceRefused("sources are never fetched through a proxy")
