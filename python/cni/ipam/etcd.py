# SPDX-License-Identifier: Apache-2.0
"""A small etcd v3 client over etcd's own JSON gateway (`/v3/kv/range`, `/v3/kv/txn`,
`/v3/lease/grant`, ...), for the cluster IPAM.

Why the gateway and not a gRPC client: it ships in every etcd v3 server (3.4 on Debian 12
too), needs nothing beyond the standard library, and its cost on a plugin's start is one
HTTP/1.1 connection: no `http.client` (which imports the email package), no protobuf. A
request goes to the first endpoint that answers; a connection refused, reset or timed out
moves to the next one. TLS (`caFile`, `certFile`, `keyFile`) imports `ssl` only when used.
Keys and values are bytes; the gateway carries them base64-encoded.
"""

from __future__ import annotations

import socket
from binascii import a2b_base64, b2a_base64

from cni.errors import CNIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Any


class Unavailable(CNIError):
    """No endpoint of the cluster answered (code 11: try again later)."""

    code = 11


def encode(data: bytes) -> str:
    """A key or value as the gateway carries it (base64)."""
    return b2a_base64(data, newline=False).decode()


def prefix_end(prefix: bytes) -> bytes:
    """The range end that covers every key starting with `prefix` (etcd's convention)."""
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return b"\0"
    end[-1] += 1
    return bytes(end)


class KeyValue:
    __slots__ = ("key", "mod_revision", "value")

    def __init__(self, raw: dict[str, object]) -> None:
        self.key = a2b_base64(str(raw.get("key", "")))
        self.value = a2b_base64(str(raw.get("value", "")))
        self.mod_revision = int(str(raw.get("mod_revision", 0)))


class Etcd:
    """A connection to one etcd cluster, kept open between requests (HTTP/1.1 keep-alive)."""

    #: Requests sent by every client of this process (the benchmarks' round-trip counts).
    total = 0

    def __init__(
        self,
        endpoints: list[str],
        *,
        timeout: float = 2.0,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> None:
        if not endpoints:
            raise CNIError("etcd: no endpoints")
        self.endpoints = [self._parse(e) for e in endpoints]
        self.timeout = timeout
        self.tls: ssl.SSLContext | None = None
        if any(tls for tls, _, _ in self.endpoints) or ca_file:
            import ssl

            self.tls = ssl.create_default_context(cafile=ca_file)
            if cert_file:
                self.tls.load_cert_chain(cert_file, key_file)
        self.sock: socket.socket | None = None
        self.current = 0
        #: Requests sent, for the benchmarks' round-trip counts.
        self.requests = 0

    @staticmethod
    def _parse(endpoint: str) -> tuple[bool, str, int]:
        tls = endpoint.startswith("https://")
        rest = endpoint.split("://", 1)[-1].rstrip("/")
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit():
            raise CNIError(f"etcd: endpoint {endpoint!r} is not scheme://host:port")
        return tls, host.strip("[]"), int(port)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _connect(self, index: int) -> socket.socket:
        tls, host, port = self.endpoints[index]
        sock = socket.create_connection((host, port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            assert self.tls is not None
            return self.tls.wrap_socket(sock, server_hostname=host)
        return sock

    def call(self, path: str, body: dict[str, object]) -> dict[str, object]:
        """POSTs `body` to `path` on the first endpoint that answers; the answer's JSON."""
        from cni._native import dumps

        payload = dumps(body).encode()
        failures = []
        for attempt in range(len(self.endpoints) + 1):
            index = (self.current + attempt) % len(self.endpoints) if attempt else self.current
            try:
                if self.sock is None or attempt:
                    self.close()
                    self.sock = self._connect(index)
                    self.current = index
                self.requests += 1
                Etcd.total += 1
                return self._exchange(path, payload)
            except (OSError, _Broken) as err:
                failures.append(f"{self.endpoints[index][1]}:{self.endpoints[index][2]}: {err}")
                self.close()
        raise Unavailable(f"etcd unreachable: {'; '.join(failures[-len(self.endpoints) :])}")

    def _exchange(self, path: str, payload: bytes) -> dict[str, object]:
        from cni._native import loads

        assert self.sock is not None
        _, host, port = self.endpoints[self.current]
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + payload)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise _Broken("connection closed")
            data += chunk
        header, _, rest = data.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if fields.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked(rest)
        else:
            length = int(fields.get("content-length", "0"))
            while len(rest) < length:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise _Broken("connection closed")
                rest += chunk
            body = rest[:length]
        answer = loads(body) if body else {}
        if not isinstance(answer, dict):
            raise CNIError(f"etcd: unexpected answer {body[:80]!r}")
        if status != 200:
            message = answer.get("message") or answer.get("error") or f"HTTP {status}"
            if status in (502, 503):  # no leader, or the member is stopping: ask another
                raise _Broken(str(message))
            raise CNIError(f"etcd: {message}")
        return answer

    def _chunked(self, rest: bytes) -> bytes:
        assert self.sock is not None
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += self.sock.recv(65536)
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise _Broken("connection closed")
                rest += chunk
            if size == 0:
                return body
            body += rest[:size]
            rest = rest[size + 2 :]

    # --- the operations the IPAM uses ------------------------------------------------------

    def get(self, key: bytes) -> KeyValue | None:
        found = self.range(key)
        return found[0] if found else None

    def range(self, key: bytes, end: bytes | None = None) -> list[KeyValue]:
        body: dict[str, object] = {"key": encode(key)}
        if end is not None:
            body["range_end"] = encode(end)
        answer = self.call("/v3/kv/range", body)
        kvs = answer.get("kvs")
        return [KeyValue(kv) for kv in kvs if isinstance(kv, dict)] if isinstance(kvs, list) else []

    def put(self, key: bytes, value: bytes, lease: int = 0) -> None:
        body: dict[str, object] = {"key": encode(key), "value": encode(value)}
        if lease:
            body["lease"] = str(lease)
        self.call("/v3/kv/put", body)

    def create(self, key: bytes, value: bytes, lease: int = 0) -> bool:
        """Puts `key` only when it does not exist (one transaction); whether it did."""
        put: dict[str, object] = {"key": encode(key), "value": encode(value)}
        if lease:
            put["lease"] = str(lease)
        return self.txn(
            [{"key": encode(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
            [{"request_put": put}],
        )

    def swap(self, key: bytes, revision: int, value: bytes | None, lease: int = 0) -> bool:
        """Replaces (or with None deletes) `key` only when its mod revision is still
        `revision` (compare-and-swap); whether it was."""
        if value is None:
            operation: dict[str, object] = {"request_delete_range": {"key": encode(key)}}
        else:
            put: dict[str, object] = {"key": encode(key), "value": encode(value)}
            if lease:
                put["lease"] = str(lease)
            operation = {"request_put": put}
        compare: dict[str, object] = {
            "key": encode(key),
            "target": "MOD",
            "result": "EQUAL",
            "mod_revision": str(revision),
        }
        return self.txn([compare], [operation])

    def txn(
        self, compare: list[dict[str, Any]], success: list[dict[str, Any]], failure: list[dict[str, Any]] | None = None
    ) -> bool:
        return self.txn_answer(compare, success, failure)[0]

    def txn_answer(
        self, compare: list[dict[str, Any]], success: list[dict[str, Any]], failure: list[dict[str, Any]] | None = None
    ) -> tuple[bool, list[KeyValue]]:
        """Whether the comparisons held, and the keys the branch that ran read (its
        `request_range` operations)."""
        body: dict[str, object] = {"compare": compare, "success": success}
        if failure:
            body["failure"] = failure
        answer = self.call("/v3/kv/txn", body)
        read: list[KeyValue] = []
        responses = answer.get("responses")
        for response in responses if isinstance(responses, list) else []:
            ranged = response.get("response_range") if isinstance(response, dict) else None
            kvs = ranged.get("kvs") if isinstance(ranged, dict) else None
            read += [KeyValue(kv) for kv in kvs if isinstance(kv, dict)] if isinstance(kvs, list) else []
        return answer.get("succeeded") is True, read

    def lease_grant(self, ttl: int) -> int:
        answer = self.call("/v3/lease/grant", {"TTL": str(ttl)})
        return int(str(answer.get("ID", 0)))

    def lease_ttl(self, lease: int) -> int:
        """The seconds `lease` has left; -1 when it has expired or never existed."""
        answer = self.call("/v3/lease/timetolive", {"ID": str(lease)})
        return int(str(answer.get("TTL", -1)))


class _Broken(Exception):
    """The connection or the member cannot serve this request: another endpoint may."""
