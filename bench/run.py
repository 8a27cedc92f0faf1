# `make bench`: the firmware on the MicroPython Unix port and CPython's smtplib + email
# on the same work, against one local aiosmtpd server (STARTTLS and AUTH required, PIPELINING
# offered), over loopback only. Prints one table and writes build/bench-results.json (--out:
# elsewhere, e.g. bench/results.json to update the committed reference on purpose).
#   W1  one short text message, STARTTLS + AUTH PLAIN, one recipient
#   W2  one message with a 1 MiB binary attachment read from a file
#   W3  20 short messages in one session
# Wall times are medians over --runs runs; ratios (mailer / smtplib) are taken run by run, the
# two clients alternating, then their median. Round trips: the same run through bench/proxy.py
# (each direction delayed by --delay-ms), (time through proxy - time without) / (2 * delay).
# Heap (mailer only, firmware loaded from .mpy): the smallest `-X heapsize` for idle, W1 and W2
# (bench/memory.py: every size from it up to 4 KiB more works, in 3 runs each), on the 64-bit port and on the
# 32-bit one (pointers 4 bytes, as on an ESP32), W1 also with the firmware
# frozen into a 32-bit binary (tools/mpbuild.frozen_mp32); the peak live GC heap sampled during
# W2 with 1 KiB vs 1 MiB attachments; and what each module's import takes.
# Asyncio: a 10 ms ticker task beside W2 (1 MiB) through the proxy, sent by mailer.aclient on
# the 64-bit port: the longest gap between ticks from connect to QUIT (handshake included);
# and A1 (W1 sent by aclient) smallest heap, the async path's own figure, on both ports.
import argparse
import datetime
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "bench")
sys.path[:0] = [ROOT, HERE]

import memory  # noqa: E402
from proxy import DelayProxy  # noqa: E402

from tools import mpbuild  # noqa: E402
from tools.certs import make_certs  # noqa: E402
from tools.devserver import DevServer  # noqa: E402

USER, PASSWORD = "device@example.com", "bench-Pa55"
SENDER, TO = "device@example.com", "ops@example.com"
KIB = 1024
# Targets: speed and round trips.
W2_RATIO_MAX = 1.0
W3_TRIPS_MAX = 28
W2_HEAP_MAX = 32 * KIB
HEAP_DIFF_MAX = 4 * KIB
MPY_MAX = 40 * KIB
# Targets: smallest heap on the 32-bit port (as on an ESP32), bytes.
MP32_MAX = {"idle": 20 * KIB, "W1": 30 * KIB, "W2_1MiB": 32 * KIB, "W1_frozen": 16 * KIB}
HEAP_ORDER = ("idle", "W1", "A1", "W2_1KiB", "W2_1MiB", "idle_frozen", "W1_frozen")
TICK_GAP_MAX_MS = 50


class Worker:
    """A long-lived client process speaking the mp_work / smtplib_work line protocol."""

    def __init__(self, cmd, env=None):
        self.p = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, bufsize=1
        )

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline().split()
        if not out or out[0] != "ok":
            raise SystemExit(
                "%s failed: %s %s" % (line, " ".join(out), self.p.stderr.read() if self.p.poll() is not None else "")
            )
        return float(out[1]), int(out[2]), int(out[3])

    def close(self):
        self.p.stdin.close()
        self.p.wait(30)


def heap_figures(binary, lib, settings, lines):
    """{name: smallest heap in bytes, or None when it fails even at 256 KiB}: a size counts as
    working when each of memory.RUNS runs at it works (memory.works)."""
    return {
        name: memory.smallest_heap(lambda h, line=line: memory.works(binary, lib, settings, line, h))
        for name, line in lines.items()
    }


def mpy_sizes(out):
    # The firmware as a board loads it (mpbuild.board_files, with the optional probe): bytes
    # per board path; main.py is compiled too, for its size only (it stays .py on the board).
    files = mpbuild.board_files(probe=True)
    return {name[:-3] + ".mpy": os.path.getsize(p) for (src, name), p in zip(files, mpbuild.compile_files(out, files))}


# Each mailer module's own share of the heap once imported from .mpy (its bytecode and tables
# are on the heap; a module frozen into the firmware keeps them in flash instead): an
# __import__ hook takes the heap before and after each first import of a mailer module, less
# what the mailer modules it imports took. Loaded: what a program that sends loads.
IMPORT_HEAP = """import builtins, gc
real = builtins.__import__
own = {}
stack = []
def hook(name, *a):
    if not name.startswith('mailer') or name in sys.modules:
        return real(name, *a)
    stack.append(0)
    gc.collect()
    t = gc.mem_alloc()
    m = real(name, *a)
    gc.collect()
    t = gc.mem_alloc() - t
    own[name] = t - stack.pop()
    if stack:
        stack[-1] += t
    return m
builtins.__import__ = hook
import mailer.client, mailer.message, mailer.settings
for k in own:
    print(k, own[k])
"""


def import_heap(binary, lib):
    r = subprocess.run([binary, "-c", memory.path_code(lib) + IMPORT_HEAP], capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise SystemExit("import heap: " + r.stderr)
    return {m: int(n) for m, n in (ln.split() for ln in r.stdout.split("\n") if ln)}


def median(xs):
    return statistics.median(xs) if xs else None


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__)
    ap.add_argument("--runs", type=int, default=7, help="timed runs per figure (default 7)")
    ap.add_argument("--delay-ms", type=float, default=25.0, help="proxy delay each way")
    ap.add_argument(
        "--out",
        default=os.path.join(ROOT, "build", "bench-results.json"),
        help="results file (default build/bench-results.json; bench/results.json is the committed reference)",
    )
    ap.add_argument("--no-heap", action="store_true", help="skip the heap searches")
    ap.add_argument("--firmware", help="bench a copy of firmware/ in this folder instead")
    a = ap.parse_args(argv)
    if a.firmware:
        mpbuild.FIRMWARE = os.path.abspath(a.firmware)
    sys.path.insert(0, mpbuild.FIRMWARE)  # memory.write_settings uses the firmware's own save()
    t_start = time.monotonic()
    rtt = 2 * a.delay_ms

    tmp = tempfile.mkdtemp(prefix="mailer-bench-")
    certs = make_certs(os.path.join(tmp, "certs"))
    rnd = random.Random(8)
    att = {}
    for label, n in (("1KiB", KIB), ("1MiB", KIB * KIB)):
        att[label] = os.path.join(tmp, label + ".bin")
        with open(att[label], "wb") as f:
            f.write(rnd.randbytes(n))
    settings = memory.write_settings(
        os.path.join(tmp, "settings.json"), 587, certs["ca_der"], USER, PASSWORD, SENDER, TO
    )

    sizes = mpy_sizes(os.path.join(tmp, "fw"))
    lib = memory.compile_worker(os.path.join(tmp, "lib"))
    mp64, mp32 = mpbuild.micropython_path(), mpbuild.mp32_path()
    mp32_missing = mpbuild.can_run(mp32)
    frozen, frozen_missing = (None, "no 32-bit port") if mp32_missing else mpbuild.frozen_mp32()

    # Only PLAIN offered: both clients then log in as W1 says, each by its default path
    # (smtplib's login() would otherwise prefer CRAM-MD5, one round trip more).
    server = DevServer(certs, users={USER: PASSWORD}, mechanisms=("PLAIN",), implicit=False).start()
    # A client starved of heap drops the handshake: aiosmtpd would log each as a traceback.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    proxy = DelayProxy(server.port, a.delay_ms / 1000).start()
    env = dict(os.environ, MICROPYPATH=os.path.join(lib, "lib"))
    clients = {
        "mailer": Worker(memory.mp_cmd(mp64, lib, settings), env),
        "smtplib": Worker(
            [sys.executable, os.path.join(HERE, "smtplib_work.py"), certs["ca_pem"], USER, PASSWORD, SENDER, TO]
        ),
    }
    items = {"W1": "W1 %d", "W2": "W2 %d " + att["1MiB"], "W3": "W3 %d"}
    expect = {"W1": 1, "W2": 1, "W3": 20}
    times = {c: {w: [] for w in items} for c in clients}
    trips = {c: {w: [] for w in ("W1", "W3")} for c in clients}
    tls = {c: set() for c in clients}
    try:
        for worker in clients.values():  # warm-up: imports, caches, first TLS context
            worker.ask(items["W1"] % server.port)
        del server.messages[:]
        for run in range(a.runs):
            # Alternate which client goes first, so that drift favours neither.
            order = list(clients) if run % 2 == 0 else list(clients)[::-1]
            for w, line in items.items():
                for c in order:
                    n = len(server.messages)
                    direct = clients[c].ask(line % server.port)[0]
                    times[c][w].append(direct)
                    if w in trips[c]:
                        slow = clients[c].ask(line % proxy.port)[0]
                        trips[c][w].append((slow - direct) / rtt)
                    got = server.messages[n:]
                    if len(got) != expect[w] * (2 if w in trips[c] else 1):
                        raise SystemExit("%s %s: server got %d messages" % (c, w, len(got)))
                    if w == "W2" and len(got[0]["content"]) < KIB * KIB * 4 // 3:
                        raise SystemExit("%s W2: attachment missing from the message" % c)
                    tls[c] |= {m["tls_version"] for m in got}
                    del server.messages[:]
        for worker in clients.values():
            worker.close()

        tick = Worker(memory.mp_cmd(mp64, lib, settings), env)
        ms, gap, ticks = tick.ask("A2 %d %s" % (proxy.port, att["1MiB"]))
        tick.close()
        if len(server.messages) != 1 or len(server.messages[0]["content"]) < KIB * KIB * 4 // 3:
            raise SystemExit("A2: the server did not get the 1 MiB message")
        del server.messages[:]
        ticker = {"longest_gap_ms": gap, "ticks": ticks, "send_ms": ms, "tick_ms": 10}

        heap = {"import_bytes": import_heap(mp64, lib)}
        lines = {
            "idle": "W0 0",
            "W1": items["W1"] % server.port,
            "A1": "A1 %d" % server.port,
            "W2_1KiB": "W2 %d %s" % (server.port, att["1KiB"]),
            "W2_1MiB": items["W2"] % server.port,
        }
        if not a.no_heap:
            heap["min_heapsize"] = heap_figures(mp64, lib, settings, lines)
        if not mp32_missing:
            heap["import_bytes_32"] = import_heap(mp32, lib)
            if not a.no_heap:
                heap["min_heapsize_32"] = heap_figures(mp32, lib, settings, lines)
                if frozen:
                    work = memory.compile_worker(os.path.join(tmp, "work"), firmware=False)
                    heap["min_heapsize_32"].update(
                        {
                            k + "_frozen": v
                            for k, v in heap_figures(
                                frozen, work, settings, {"idle": lines["idle"], "W1": lines["W1"]}
                            ).items()
                        }
                    )
        heap["mp32_note"] = mp32_missing or frozen_missing
        mem = Worker(memory.mp_cmd(mp64, lib, settings), env)
        heap["peak_live"] = {}
        for label in ("1KiB", "1MiB"):
            ms, peak, base = mem.ask("W2 %d %s mem" % (server.port, att[label]))
            heap["peak_live"]["W2_" + label] = {"peak": peak, "before": base}
        mem.close()
        del server.messages[:]
    finally:
        proxy.stop()
        server.stop()

    res = report(a, times, trips, heap, sizes, tls, rtt, ticker)
    res["elapsed_s"] = round(time.monotonic() - t_start, 1)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    print("\nwhole bench: %.0f s; results in %s" % (res["elapsed_s"], os.path.relpath(a.out, ROOT)))


def needed_trips(tls_version):
    # What the protocol needs for W1 through the proxy, in round trips: the greeting (one way:
    # the proxy cannot delay the TCP handshake, which the kernel answers), EHLO, STARTTLS, the
    # TLS handshake (1 for TLS 1.3, 2 for 1.2), EHLO, AUTH PLAIN with its initial response,
    # MAIL+RCPT+DATA pipelined, the body and its final reply; QUIT is not waited for.
    return 0.5 + 1 + 1 + (1 if tls_version == "TLSv1.3" else 2) + 1 + 1 + 1 + 1


def report(a, times, trips, heap, sizes, tls, rtt, ticker):
    def pair_ratio(xs, ys):
        return median([x / y for x, y in zip(xs, ys)])

    res = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "make bench",
        "firmware": os.path.relpath(mpbuild.FIRMWARE, ROOT),
        "runs": a.runs,
        "proxy_delay_ms_each_way": a.delay_ms,
        "tls_version": {c: sorted(v) for c, v in tls.items()},
        "micropython": subprocess.run(
            [mpbuild.micropython_path(), "-c", "import sys; print(sys.version)"], capture_output=True, text=True
        ).stdout.strip(),
        "cpython": sys.version.split()[0],
        "wall_ms": {},
        "round_trips": {},
        "heap": heap,
        "mpy_bytes": sizes,
        "asyncio_ticker": ticker,
    }
    rows = []
    for key, label, works, data in (
        ("wall_ms", "%s wall time (ms)", ("W1", "W2", "W3"), times),
        ("round_trips", "%s round trips", ("W1", "W3"), trips),
    ):
        for w in works:
            m, s = data["mailer"][w], data["smtplib"][w]
            r = res[key][w] = {
                "mailer": median(m),
                "smtplib": median(s),
                "ratio": pair_ratio(m, s),
                "mailer_runs": m,
                "smtplib_runs": s,
            }
            rows.append((label % w, "%.1f" % r["mailer"], "%.1f" % r["smtplib"], "%.2f" % r["ratio"]))
    imp = heap["import_bytes"]
    imp32 = heap.get("import_bytes_32", {})
    heap_rows = []
    hs, hs32 = heap.get("min_heapsize", {}), heap.get("min_heapsize_32", {})

    def kib(v):
        return "-" if v is None else "%.2f" % (v / KIB)

    for k in [k for k in HEAP_ORDER if k in hs or k in hs32]:
        heap_rows.append(
            ("%s smallest heap (KiB)" % k.replace("_", " "), kib(hs.get(k)), kib(hs32.get(k)), kib(MP32_MAX.get(k)))
        )
    if hs.get("idle") and hs32.get("idle"):
        # What the send needs above the loaded code and settings.
        heap["send_need"] = {
            k: (hs[k] - hs["idle"], hs32.get(k, 0) - hs32["idle"])
            for k in ("W1", "W2_1KiB", "W2_1MiB")
            if hs.get(k) and hs32.get(k)
        }
        for k, (v, v32) in heap["send_need"].items():
            heap_rows.append(("%s heap above idle (KiB)" % k.replace("_", " "), kib(v), kib(v32), "-"))
    heap_rows.append(
        ("send-path code on heap (KiB)", kib(sum(imp.values())), kib(sum(imp32.values())) if imp32 else "-", "-")
    )
    for k, v in heap["peak_live"].items():
        heap_rows.append(("%s peak live heap (KiB)" % k.replace("_", " "), kib(v["peak"]), "-", "-"))
    total = sum(sizes.values())
    res["mpy_total_bytes"] = total
    rows.append((".mpy total (KiB, %d files)" % len(sizes), "%.1f" % (total / KIB), "-", "-"))
    # What `make deploy` puts in /lib/mailer: not the probe unless asked for (deploy --probe), nor
    # the asyncio modules unless the board runs on asyncio (or deploy --asyncio).
    board = sum(sizes[name[:-3] + ".mpy"] for _, name in mpbuild.board_files(asyncio=False) if name != "main.py")
    res["mpy_board_bytes"] = board
    rows.append((".mpy deployed to a board (KiB)", "%.1f" % (board / KIB), "-", "-"))

    print(
        "\nmailer (MicroPython Unix port, .mpy) vs CPython smtplib + email; medians of %d runs;"
        " ratio = mailer / smtplib, run by run; round trips through a %.0f ms + %.0f ms proxy"
        % (a.runs, a.delay_ms, a.delay_ms)
    )
    print("%-34s %12s %12s %8s" % ("figure", "mailer", "smtplib", "ratio"))
    for row in rows:
        print("%-34s %12s %12s %8s" % row)
    print(
        "\nGC heap (firmware from .mpy unless frozen; smallest: every size up to 4 KiB more works, %d runs each)"
        % memory.RUNS
    )
    print("%-34s %12s %12s %8s" % ("figure", "64-bit", "32-bit", "target"))
    for row in heap_rows:
        print("%-34s %12s %12s %8s" % row)
    if heap.get("mp32_note"):
        print("32-bit figures incomplete: %s" % heap["mp32_note"])
    print(
        "\n.mpy per module (bytes): "
        + ", ".join("%s %d" % (k.replace("mailer/", "").replace(".mpy", ""), v) for k, v in sizes.items())
    )
    for label, table in (("64-bit", imp), ("32-bit", imp32)):
        if table:
            print(
                "heap per module once imported from .mpy, %s (bytes): " % label
                + ", ".join("%s %d" % (k.replace("mailer.", ""), v) for k, v in table.items())
            )

    print(
        "\nasyncio: a %d ms ticker beside W2 (1 MiB) through the proxy: longest gap %d ms, %d ticks in %.0f ms"
        % (ticker["tick_ms"], ticker["longest_gap_ms"], ticker["ticks"], ticker["send_ms"])
    )
    need = needed_trips(min(tls["mailer"]))
    rt = res["round_trips"]["W1"]
    targets = [
        ("W1 round trips < smtplib's (%.1f)" % rt["smtplib"], "%.1f" % rt["mailer"], rt["mailer"] < rt["smtplib"]),
        # Timer jitter adds a little to every delayed leg: allow 0.5 round trip over the count.
        ("W1 round trips <= protocol need (%.1f)" % need, "%.1f" % rt["mailer"], rt["mailer"] <= need + 0.5),
        # W3: one round trip per further message (the body's end and the next envelope in one write).
        # Its 56 delayed legs gather more jitter than W1's 17: a clean 28 measures 28.5-28.7 (the
        # firmware of 7858ba6 and of later commits alike, on one machine on one day); one round trip
        # more would read 29.5 or over.
        (
            "W3 round trips <= %d" % W3_TRIPS_MAX,
            "%.1f" % res["round_trips"]["W3"]["mailer"],
            res["round_trips"]["W3"]["mailer"] <= W3_TRIPS_MAX + 0.75,
        ),
        (
            "W2 wall time <= %.1f x smtplib" % W2_RATIO_MAX,
            "%.2f x" % res["wall_ms"]["W2"]["ratio"],
            res["wall_ms"]["W2"]["ratio"] <= W2_RATIO_MAX,
        ),
    ]
    big = hs32 or hs  # the 1 KiB vs 1 MiB target on the 32-bit port when it ran
    if big.get("W2_1MiB") and big.get("W2_1KiB"):
        targets.append(
            (
                "W2 heap need 1 MiB - 1 KiB < 4 KiB",
                "%+d B" % (big["W2_1MiB"] - big["W2_1KiB"]),
                abs(big["W2_1MiB"] - big["W2_1KiB"]) < HEAP_DIFF_MAX,
            )
        )
    # The 32-bit port's smallest heap against the goals (None: failed even at 256 KiB).
    for k, limit in MP32_MAX.items():
        if k in hs32:
            v = hs32[k]
            targets.append(
                (
                    "32-bit %s heap <= %d KiB" % (k.replace("_", " "), limit // KIB),
                    "%s KiB" % kib(v),
                    v is not None and v <= limit,
                )
            )
    targets.append(
        (
            "asyncio ticker gap <= %d ms" % TICK_GAP_MAX_MS,
            "%d ms" % ticker["longest_gap_ms"],
            ticker["longest_gap_ms"] <= TICK_GAP_MAX_MS,
        )
    )
    targets.append(("firmware on a board < 40 KiB of .mpy", "%.1f KiB" % (board / KIB), board < MPY_MAX))
    print("TLS: " + ", ".join("%s %s" % (c, "/".join(sorted(v))) for c, v in tls.items()))
    print("\ntargets")
    res["targets"] = []
    for name, value, ok in targets:
        print("  %-40s %12s  %s" % (name, value, "met" if ok else "MISSED"))
        res["targets"].append({"target": name, "value": value, "met": bool(ok)})
    return res


if __name__ == "__main__":
    main()
