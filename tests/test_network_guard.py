"""The autouse network guard: anything beyond loopback fails at once, loopback still works."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

# TEST-NET-1 and its IPv6 cousin (documentation ranges): never routed, never reachable.
UNREACHABLE = [("192.0.2.1", 80), ("203.0.113.7", 443), ("2001:db8::1", 80)]
GUARD = "test tried to"


@pytest.mark.parametrize(("host", "port"), UNREACHABLE)
def test_connecting_beyond_loopback_fails_at_once(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    started = time.monotonic()
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        with pytest.raises(OSError, match=GUARD):
            sock.connect((host, port))
        with pytest.raises(OSError, match=GUARD):
            sock.connect_ex((host, port))
    assert time.monotonic() - started < 0.5


def test_create_connection_beyond_loopback_fails() -> None:
    with pytest.raises(OSError, match=GUARD):
        socket.create_connection(("192.0.2.1", 80), timeout=5)


@pytest.mark.parametrize("name", ["api.telegram.org", "graph.facebook.com", b"example.com"])
def test_resolving_a_public_name_fails_at_once(name: str | bytes) -> None:
    started = time.monotonic()
    with pytest.raises(OSError, match=GUARD):
        socket.getaddrinfo(name, 443)
    assert time.monotonic() - started < 0.5


async def test_an_http_client_cannot_reach_the_internet() -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        for url in ("http://192.0.2.1/", "https://api.telegram.org/bot123:abc/getMe"):
            started = time.monotonic()
            with pytest.raises(aiohttp.ClientConnectorError) as caught:
                await session.get(url)
            assert GUARD in str(caught.value.os_error)
            assert time.monotonic() - started < 1


async def test_loopback_still_works() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="halo")

    app = web.Application()
    app.router.add_get("/", hello)
    async with TestServer(app, host="127.0.0.1") as server:
        async with aiohttp.ClientSession() as session:
            for host in ("127.0.0.1", "localhost"):
                async with session.get(f"http://{host}:{server.port}/") as resp:
                    assert await resp.text() == "halo"
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        assert (await reader.read()).endswith(b"halo")
        writer.close()
        await writer.wait_closed()
    assert socket.getaddrinfo("localhost", 80)
    assert socket.getaddrinfo("127.0.0.1", 80)


def test_a_plain_socket_to_loopback_works() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname(), timeout=1) as client:
            peer, _ = listener.accept()
            with peer:
                client.sendall(b"ping")
                assert peer.recv(4) == b"ping"
