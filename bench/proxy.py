# A loopback TCP proxy that delays each direction by a fixed amount (no bandwidth limit): every
# chunk read on one side is written to the other `delay` seconds after it arrived, in order.
# Time through the proxy minus time without it, divided by 2 * delay, counts a client's round
# trips. Used in-process by bench/run.py; standalone: python bench/proxy.py TARGET_PORT [MS].
import asyncio
import sys
import threading


class DelayProxy:
    def __init__(self, target_port, delay_s=0.025, target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.delay = delay_s
        self.port = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _pump(self, reader, writer):
        # Reader side stamps each chunk; a writer task releases it when its time has come.
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()

        async def release():
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        task = asyncio.ensure_future(release())
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((loop.time() + self.delay, data or None))
                if not data:
                    break
        except OSError:
            queue.put_nowait((loop.time() + self.delay, None))
        try:
            await task
        except OSError:
            pass  # the other side went away; the connection ends anyway

    async def _client(self, c_reader, c_writer):
        try:
            s_reader, s_writer = await asyncio.open_connection(*self.target)
        except OSError:
            c_writer.close()
            return
        await asyncio.gather(self._pump(c_reader, s_writer), self._pump(s_reader, c_writer))
        for w in (c_writer, s_writer):
            w.close()

    def start(self):
        # asyncio turns TCP_NODELAY on for its streams, so the proxy adds no Nagle stall.
        self._server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._client, "127.0.0.1", 0), self._loop)
        self._thread.start()
        self._server = self._server.result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self):
        async def close():
            self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    ms = float(sys.argv[2]) if len(sys.argv) > 2 else 25.0
    with DelayProxy(int(sys.argv[1]), ms / 1000) as p:
        print("proxy on 127.0.0.1:%d -> %d, %.1f ms each way" % (p.port, int(sys.argv[1]), ms), flush=True)
        threading.Event().wait()
