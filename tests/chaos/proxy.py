"""A TCP proxy on loopback, in a thread of its own, that can cut every connection through it
and refuse new ones (as a network partition would), then let connections through again."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any

CALL_TIMEOUT = 10.0


class TcpProxy:
    """127.0.0.1:`port` forwarded to `host`:`target_port`. `cut()` closes the listening port
    (a new connection is refused) and aborts every open connection both ways; `restore()`
    listens again on the same port."""

    def __init__(self, host: str, target_port: int) -> None:
        self.target = (host, target_port)
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tcp-proxy",
                                       daemon=True)
        self.thread.start()
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.StreamWriter] = set()
        self.accepted = 0  # connections made through the proxy, ever
        self.restore()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=CALL_TIMEOUT)

    def restore(self) -> None:
        async def listen() -> None:
            if self.server is None:
                self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
                self.port = self.server.sockets[0].getsockname()[1]

        self._call(listen())

    def cut(self) -> None:
        async def close() -> None:
            server, self.server = self.server, None
            if server is not None:
                server.close()
            for writer in list(self.connections):
                writer.transport.abort()
            self.connections.clear()
            if server is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(server.wait_closed(), CALL_TIMEOUT / 2)

        self._call(close())

    @property
    def open_connections(self) -> int:
        return len(self.connections) // 2

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=CALL_TIMEOUT)
        if not self.thread.is_alive():
            self.loop.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.server is None:  # accepted as the port closed
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        pair = {writer, up_writer}
        self.connections |= pair

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        self.connections -= pair
