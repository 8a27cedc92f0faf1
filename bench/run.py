# `make bench` (issue 8): the firmware on the MicroPython Unix port and CPython's smtplib + email
# on the same work, against one local aiosmtpd server (STARTTLS and AUTH required, PIPELINING
# offered), over loopback only. Prints one table and writes bench/results.json.
#   W1  one short text message, STARTTLS + AUTH PLAIN, one recipient
#   W2  one message with a 1 MiB binary attachment read from a file
#   W3  20 short messages in one session
# Wall times are medians over --runs runs; ratios (mailer / smtplib) are taken run by run, the
# two clients alternating, then their median. Round trips: the same run through bench/proxy.py
# (each direction delayed by --delay-ms), (time through proxy - time without) / (2 * delay).
# Heap (mailer only, firmware loaded from .mpy): the smallest `-X heapsize` that sends W1 and
# W2 (bisection), and the peak live GC heap sampled during W2 with 1 KiB vs 1 MiB attachments.
import argparse
import datetime
import glob
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
sys.path[:0] = [ROOT, os.path.join(ROOT, "host_tests")]

import mpy  # noqa: E402
from proxy import DelayProxy  # noqa: E402

from tools.certs import make_certs  # noqa: E402
from tools.devserver import DevServer  # noqa: E402

USER, PASSWORD = "device@example.com", "bench-Pa55"
SENDER, TO = "device@example.com", "ops@example.com"
KIB = 1024
STEP = 256  # heap bisection resolution, bytes
# Targets of issue 8.
W2_RATIO_MAX = 1.5
W2_HEAP_MAX = 32 * KIB
HEAP_DIFF_MAX = 4 * KIB
MPY_MAX = 40 * KIB


class Worker:
    """A long-lived client process speaking the mp_work / smtplib_work line protocol."""

    def __init__(self, cmd, env=None):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env, bufsize=1)

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline().split()
        if not out or out[0] != "ok":
            raise SystemExit("%s failed: %s %s" % (line, " ".join(out), self.p.stderr.read()
                                                    if self.p.poll() is not None else ""))
        return float(out[1]), int(out[2]), int(out[3])

    def close(self):
        self.p.stdin.close()
        self.p.wait(30)


def mp_cmd(lib, settings, heapsize=None):
    # The worker itself runs from .mpy too, with nothing but the compiled tree on its path.
    code = "import sys\nsys.path[:] = [%r, '.frozen']\nsys.argv[:] = ['mp_work', %r]\nimport mp_work\n" % (
        lib, settings)
    cmd = [mpy.micropython_path()]
    if heapsize:
        cmd += ["-X", "heapsize=%d" % heapsize]
    return cmd + ["-c", code]


def mp_once(lib, settings, line, heapsize):
    r = subprocess.run(mp_cmd(lib, settings, heapsize), input=line + "\n", capture_output=True,
                       text=True, timeout=120)
    return r.returncode == 0 and r.stdout.startswith("ok ")


def smallest_heap(lib, settings, line, lo=8 * KIB, hi=256 * KIB):
    # Fails at lo, works at hi, then halve the gap down to STEP bytes.
    if not mp_once(lib, settings, line, hi):
        raise SystemExit("%s fails even with a %d-byte heap" % (line, hi))
    if mp_once(lib, settings, line, lo):
        return lo
    while hi - lo > STEP:
        mid = (lo + hi) // 2 // STEP * STEP
        if mp_once(lib, settings, line, mid):
            hi = mid
        else:
            lo = mid
    return hi


def mpy_sizes(out):
    # The firmware as a board loads it: mailer/*.py and main.py through mpy-cross.
    scripts = [p for p in [os.path.join(mpy.FIRMWARE, "main.py")] if os.path.exists(p)]
    mpy.compile_firmware(out, scripts=scripts)
    sizes = {}
    for p in sorted(glob.glob(os.path.join(out, "mailer", "*.mpy"))) + [
            os.path.join(out, "main.mpy")] * bool(scripts):
        sizes[os.path.relpath(p, out)] = os.path.getsize(p)
    return sizes


# The send path's modules, each after those it imports, so that each figure is its own.
SEND_PATH = ("compat", "errors", "codec", "classify", "flashfile", "mime", "message", "settings",
             "transport", "session", "client")


def import_heap(lib):
    # Live GC heap each module takes once imported from .mpy (its bytecode and tables are on
    # the heap; a module frozen into the firmware keeps them in flash instead).
    code = ("import gc, sys\nsys.path[:] = [%r, '.frozen']\ngc.collect()\nprev = gc.mem_alloc()\n"
            "for m in %r:\n    __import__('mailer.' + m)\n    gc.collect()\n"
            "    print(m, gc.mem_alloc() - prev)\n    prev = gc.mem_alloc()\n") % (lib, SEND_PATH)
    r = subprocess.run([mpy.micropython_path(), "-c", code], capture_output=True, text=True, timeout=60)
    return {m: int(n) for m, n in (ln.split() for ln in r.stdout.split("\n") if ln)}


def median(xs):
    return statistics.median(xs) if xs else None


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__)
    ap.add_argument("--runs", type=int, default=7, help="timed runs per figure (default 7)")
    ap.add_argument("--delay-ms", type=float, default=25.0, help="proxy delay each way")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--no-heap", action="store_true", help="skip the heap bisections")
    ap.add_argument("--firmware", help="bench a copy of firmware/ in this folder instead")
    a = ap.parse_args(argv)
    if a.firmware:
        mpy.FIRMWARE = os.path.abspath(a.firmware)
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
    settings = os.path.join(tmp, "settings.json")
    with open(settings, "w") as f:
        json.dump({
            "smtp": {"host": "localhost", "port": 587, "auth": "log_on_using", "user": USER,
                     "password": PASSWORD, "ca_file": certs["ca_der"], "timeout_s": 30},
            "mail": {"from": SENDER, "to": [TO]},
        }, f)

    sizes = mpy_sizes(os.path.join(tmp, "fw"))
    lib = mpy.compile_firmware(os.path.join(tmp, "lib"), scripts=[os.path.join(HERE, "mp_work.py")])

    # Only PLAIN offered: both clients then log in as W1 says, each by its default path
    # (smtplib's login() would otherwise prefer CRAM-MD5, one round trip more).
    server = DevServer(certs, users={USER: PASSWORD}, mechanisms=("PLAIN",), implicit=False).start()
    # A client starved of heap drops the handshake: aiosmtpd would log each as a traceback.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    proxy = DelayProxy(server.port, a.delay_ms / 1000).start()
    env = dict(os.environ, MICROPYPATH=lib)
    clients = {
        "mailer": Worker(mp_cmd(lib, settings), env),
        "smtplib": Worker([sys.executable, os.path.join(HERE, "smtplib_work.py"), certs["ca_pem"],
                           USER, PASSWORD, SENDER, TO]),
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

        heap = {"import_bytes": import_heap(lib)}
        if not a.no_heap:
            heap["min_heapsize"] = {
                "idle": smallest_heap(lib, settings, "W0 0"),
                "W1": smallest_heap(lib, settings, items["W1"] % server.port),
                "W2_1KiB": smallest_heap(lib, settings, "W2 %d %s" % (server.port, att["1KiB"])),
                "W2_1MiB": smallest_heap(lib, settings, items["W2"] % server.port),
            }
        mem = Worker(mp_cmd(lib, settings), env)
        heap["peak_live"] = {}
        for label in ("1KiB", "1MiB"):
            ms, peak, base = mem.ask("W2 %d %s mem" % (server.port, att[label]))
            heap["peak_live"]["W2_" + label] = {"peak": peak, "before": base}
        mem.close()
        del server.messages[:]
    finally:
        proxy.stop()
        server.stop()

    res = report(a, times, trips, heap, sizes, tls, rtt)
    res["elapsed_s"] = round(time.monotonic() - t_start, 1)
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


def report(a, times, trips, heap, sizes, tls, rtt):
    def pair_ratio(xs, ys):
        return median([x / y for x, y in zip(xs, ys)])

    res = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "make bench",
        "firmware": os.path.relpath(mpy.FIRMWARE, ROOT),
        "runs": a.runs, "proxy_delay_ms_each_way": a.delay_ms,
        "tls_version": {c: sorted(v) for c, v in tls.items()},
        "micropython": subprocess.run([mpy.micropython_path(), "-c", "import sys; print(sys.version)"],
                                      capture_output=True, text=True).stdout.strip(),
        "cpython": sys.version.split()[0],
        "wall_ms": {}, "round_trips": {}, "heap": heap, "mpy_bytes": sizes,
    }
    rows = []
    for key, label, works, data in (("wall_ms", "%s wall time (ms)", ("W1", "W2", "W3"), times),
                                    ("round_trips", "%s round trips", ("W1", "W3"), trips)):
        for w in works:
            m, s = data["mailer"][w], data["smtplib"][w]
            r = res[key][w] = {"mailer": median(m), "smtplib": median(s), "ratio": pair_ratio(m, s),
                               "mailer_runs": m, "smtplib_runs": s}
            rows.append((label % w, "%.1f" % r["mailer"], "%.1f" % r["smtplib"], "%.2f" % r["ratio"]))
    hs = heap.get("min_heapsize", {})
    for k, v in hs.items():
        rows.append(("%s smallest heap (KiB)" % k.replace("_", " "), "%.2f" % (v / KIB), "-", "-"))
    if hs:
        # What the send needs above the loaded code and settings: the heap a board with the
        # firmware frozen into flash would need, near enough.
        heap["send_need"] = {k: v - hs["idle"] for k, v in hs.items() if k != "idle"}
        for k, v in heap["send_need"].items():
            rows.append(("%s heap above idle (KiB)" % k.replace("_", " "), "%.2f" % (v / KIB),
                         "-", "-"))
    imp = heap["import_bytes"]
    rows.append(("send-path code on heap (KiB)", "%.1f" % (sum(imp.values()) / KIB), "-", "-"))
    for k, v in heap["peak_live"].items():
        rows.append(("%s peak live heap (KiB)" % k.replace("_", " "), "%.2f" % (v["peak"] / KIB),
                     "-", "-"))
    total = sum(sizes.values())
    res["mpy_total_bytes"] = total
    rows.append((".mpy total (KiB, %d files)" % len(sizes), "%.1f" % (total / KIB), "-", "-"))
    # What `make deploy` puts on a real board: not the Unix port's simulated hardware, and not
    # the probe unless asked for (deploy --probe).
    board = sum(v for k, v in sizes.items() if not k.endswith(("simhw.mpy", "probe.mpy")))
    res["mpy_board_bytes"] = board
    rows.append((".mpy deployed to a board (KiB)", "%.1f" % (board / KIB), "-", "-"))

    print("\nmailer (MicroPython Unix port, .mpy) vs CPython smtplib + email; medians of %d runs;"
          " ratio = mailer / smtplib, run by run; round trips through a %.0f ms + %.0f ms proxy"
          % (a.runs, a.delay_ms, a.delay_ms))
    print("%-34s %12s %12s %8s" % ("figure", "mailer", "smtplib", "ratio"))
    for row in rows:
        print("%-34s %12s %12s %8s" % row)
    print("\n.mpy per module (bytes): " + ", ".join(
        "%s %d" % (k.replace("mailer/", "").replace(".mpy", ""), v) for k, v in sizes.items()))
    print("heap per module once imported from .mpy (bytes): " + ", ".join(
        "%s %d" % kv for kv in imp.items()))

    need = needed_trips(min(tls["mailer"]))
    rt = res["round_trips"]["W1"]
    targets = [
        ("W1 round trips < smtplib's (%.1f)" % rt["smtplib"], "%.1f" % rt["mailer"],
         rt["mailer"] < rt["smtplib"]),
        # Timer jitter adds a little to every delayed leg: allow 0.5 round trip over the count.
        ("W1 round trips <= protocol need (%.1f)" % need, "%.1f" % rt["mailer"],
         rt["mailer"] <= need + 0.5),
        ("W2 wall time <= %.1f x smtplib" % W2_RATIO_MAX, "%.2f x" % res["wall_ms"]["W2"]["ratio"],
         res["wall_ms"]["W2"]["ratio"] <= W2_RATIO_MAX),
    ]
    if hs:
        targets += [
            ("W2 (1 MiB) sends with <= 32 KiB heap", "%.2f KiB" % (hs["W2_1MiB"] / KIB),
             hs["W2_1MiB"] <= W2_HEAP_MAX),
            ("  same, above idle (code frozen)", "%.2f KiB" % (heap["send_need"]["W2_1MiB"] / KIB),
             heap["send_need"]["W2_1MiB"] <= W2_HEAP_MAX),
            ("W2 heap need 1 MiB - 1 KiB < 4 KiB", "%+d B" % (hs["W2_1MiB"] - hs["W2_1KiB"]),
             abs(hs["W2_1MiB"] - hs["W2_1KiB"]) < HEAP_DIFF_MAX),
        ]
    targets.append(("firmware on a board < 40 KiB of .mpy", "%.1f KiB" % (board / KIB), board < MPY_MAX))
    print("TLS: " + ", ".join("%s %s" % (c, "/".join(sorted(v))) for c, v in tls.items()))
    print("\ntargets (issue 8)")
    res["targets"] = []
    for name, value, ok in targets:
        print("  %-40s %12s  %s" % (name, value, "met" if ok else "MISSED"))
        res["targets"].append({"target": name, "value": value, "met": bool(ok)})
    return res


if __name__ == "__main__":
    main()
