"""A fake platform server on 127.0.0.1: the shared start/stop of the fake Bot and Graph APIs."""

from __future__ import annotations

from aiohttp import web


class LoopbackServer:
    """Subclasses build their routes in `app()` and set `_runner = None` and `url = ""`."""

    _runner: web.AppRunner | None
    url: str

    def app(self) -> web.Application:
        raise NotImplementedError

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (an ephemeral port by default); returns the base URL."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
