# Runs ON THE MICROPYTHON UNIX PORT for bench/run.py: the A1/A2 items of bench/mp_work.py (a send
# through mailer.aclient.adeliver beside a ticker task), imported only for them, so that the
# blocking items' heap holds none of this code or its names.
import time

TICK_MS = 10


def asend(cfg, msgs):
    # adeliver beside a ticker: (results, longest gap between ticks in ms, ticks). The ticker
    # starts before the send and stops after it, so the gap covers connect to QUIT.
    import asyncio

    from mailer import aclient

    gap = [0, 0]

    async def ticker():
        last = time.ticks_ms()
        while True:
            await asyncio.sleep_ms(TICK_MS)
            now = time.ticks_ms()
            gap[0] = max(gap[0], time.ticks_diff(now, last))
            gap[1] += 1
            last = now

    async def both():
        t = asyncio.create_task(ticker())
        await asyncio.sleep_ms(0)  # the ticker has begun
        res = await aclient.adeliver(cfg, msgs)
        t.cancel()
        return res

    return asyncio.run(both()), gap[0], gap[1]
