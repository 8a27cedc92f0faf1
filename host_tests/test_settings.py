# Settings on flash: defaults, validation naming the key (#861), CR/LF refused,
# passwords hidden, the stamp save() writes, backup fallback, the host tool, and the same
# results on the MicroPython Unix port as on CPython. Power cuts: test_powercut.py.
import json
import shutil
import os
import subprocess
import sys

import mpy
import pytest

from mailer import flashfile, schema, settings
from mailer.client import Client
from mailer.codes import SETTINGS
from mailer.errors import MailError
from tools import settings as tool

HERE = os.path.dirname(os.path.abspath(__file__))
MINIMAL = {"smtp": {"host": "smtp.example.com"}, "mail": {"from": "board@example.com"}}


def write(path, obj):
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


def merged(*layers, **groups):
    # MINIMAL with groups updated, layer by layer: merged(smtp={"port": 0}) -> a file's content.
    d = json.loads(json.dumps(MINIMAL))
    for layer in layers + (groups,):
        for g, v in layer.items():
            if isinstance(v, dict) and isinstance(d.get(g), dict):
                d[g].update(v)
            else:
                d[g] = v
    return d


def client(d, **smtp):
    # What the client resolves from settings d (verify "off" unless smtp says: no CA file).
    d = json.loads(json.dumps(d))
    d["smtp"].update(dict({"verify": "off"}, **smtp))
    return Client(d)


def load_error(tmp_path, obj):
    with pytest.raises(MailError) as e:
        settings.load(write(tmp_path / "settings.json", obj))
    assert e.value.code == SETTINGS and e.value.retry is False
    return e.value.detail


def test_defaults(tmp_path):
    # No "version": taken as version 1.
    d = settings.load(write(tmp_path / "settings.json", MINIMAL))
    assert d == {
        "version": 1,
        "incoming": {"host": "", "port": 110, "tls": "starttls", "user": "", "password": ""},
        "smtp": {
            "host": "smtp.example.com",
            "port": 587,
            "tls": "required",
            "auth": "same_as_incoming",
            "user": "",
            "password": "",
            "mechanisms": ["CRAM-MD5", "PLAIN", "LOGIN"],
            "allow_plain_password": False,
            "verify": "ca",
            "ca_file": "ca.der",
            "pin_sha256": "",
            "timeout_s": 10,
            "deadline_s": None,
            "ehlo_name": "",
            "oauth2": {
                "token_url": "",
                "client_id": "",
                "client_secret": "",
                "refresh_token": "",
                "scope": "",
                "ca_file": "",
            },
        },
        "mail": {"from": "board@example.com", "to": [], "subject_prefix": ""},
        "wifi": {"ssid": "", "password": ""},
        "clock": {"ntp_host": "pool.ntp.org"},
        "outbox": {"max_messages": 20, "max_bytes": 65536, "retry_base_s": 30, "retry_max_s": 3600},
        "board": "unix",
    }
    assert client(d).deadline_ms == 30_000  # no deadline_s: three read time-outs
    assert client(d, deadline_s=45).deadline_ms == 45_000
    assert client(d).ehlo_name == b"mailer.local"
    # The defaults in code are not shared with what load() returns.
    d["smtp"]["mechanisms"].append("XOAUTH2")
    assert schema.DEFAULTS["smtp"]["mechanisms"] == ["CRAM-MD5", "PLAIN", "LOGIN"]


@pytest.mark.parametrize(
    "content,detail",
    [
        (merged(smtp={"port": 0}), "smtp.port: must be an integer 1..65535"),
        (merged(smtp={"port": "587"}), "smtp.port: must be an integer 1..65535"),
        (merged(smtp={"port": True}), "smtp.port: must be an integer 1..65535"),
        (merged(incoming={"port": 70000}), "incoming.port: must be an integer 1..65535"),
        (merged(smtp={"timeout_s": 0}), "smtp.timeout_s: must be an integer 1..600"),
        (merged(smtp={"deadline_s": "30"}), "smtp.deadline_s: must be an integer 1..3600"),
        (merged(smtp={"tls": "yes"}), "smtp.tls: must be one of required, opportunistic, off, implicit, not yes"),
        (merged(incoming={"tls": "stls"}), "incoming.tls: must be one of off, starttls, implicit, not stls"),
        (
            merged(smtp={"auth": "same"}),
            "smtp.auth: must be one of same_as_incoming, log_on_using, pop_before_smtp, none, not same",
        ),
        (merged(smtp={"verify": "none"}), "smtp.verify: must be one of ca, pin, off, not none"),
        (
            merged(smtp={"mechanisms": ["PLAIN", "NTLM"]}),
            "smtp.mechanisms: must be one of OAUTHBEARER, XOAUTH2, CRAM-MD5, PLAIN, LOGIN, not NTLM",
        ),
        (merged(smtp={"mechanisms": "PLAIN"}), "smtp.mechanisms: must be a list of strings"),
        (merged(smtp={"mechanisms": []}), "smtp.mechanisms: missing"),
        (merged(smtp={"allow_plain_password": 1}), "smtp.allow_plain_password: must be true or false"),
        (merged(smtp={"user": 5}), "smtp.user: must be a string"),
        (
            merged(smtp={"user": "me@example.com"}),
            'smtp.user: set, but smtp.auth is "same_as_incoming": set "auth": "log_on_using" to log in with it',
        ),
        (
            merged(smtp={"auth": "none", "password": "pw"}),
            'smtp.password: set, but smtp.auth is "none": set "auth": "log_on_using" to log in with it',
        ),
        (merged(smtp={"bogus": 1}), "smtp.bogus: unknown key"),
        (merged(_comment="x"), "_comment: unknown key"),
        (merged(smtp=[]), "smtp: must be an object"),
        (merged(smtp={"host": ""}), "smtp.host: missing"),
        ({"smtp": {"host": "h"}}, "mail.from: missing"),
        (merged(mail={"from": "board"}), "mail.from: not an address: board"),
        (merged(mail={"from": "Board <board@>"}), "mail.from: not an address: Board <board@>"),
        (merged(mail={"to": ["ops@example.com", "ops at example.com"]}), "mail.to: not an address: ops at example.com"),
        (merged(mail={"to": "ops@example.com"}), "mail.to: must be a list of strings"),
        (merged(smtp={"auth": "log_on_using"}), "smtp.user: missing (needed when smtp.auth is log_on_using)"),
        (merged(smtp={"auth": "pop_before_smtp"}), "incoming.host: missing (needed when smtp.auth is pop_before_smtp)"),
        (merged(smtp={"verify": "pin"}), "smtp.pin_sha256: missing (needed when smtp.verify is pin)"),
        (
            merged(smtp={"verify": "pin", "pin_sha256": "ab" * 31}),
            "smtp.pin_sha256: must be 64 hex digits (SHA-256 of the certificate)",
        ),
        (merged(smtp={"ca_file": ""}), "smtp.ca_file: missing (needed when smtp.verify is ca)"),
        (
            merged(outbox={"retry_base_s": 600, "retry_max_s": 60}),
            "outbox.retry_max_s: must not be less than outbox.retry_base_s",
        ),
        (merged(outbox={"max_bytes": 10}), "outbox.max_bytes: must be an integer 1024..16777216"),
        (merged(board="../etc/x"), "board: must be a file name under boards/ without .json"),
        (merged(board=""), "board: must be a file name under boards/ without .json"),
        (merged(version=2), "version: must be 1"),
        (merged(version="1"), "version: must be 1"),
        (merged(version=0), "version: must be 1"),
        # The version-0 flat layout is gone: its keys are unknown ones.
        ({"smtp_server": "m.example.com", "sender": "a@example.com"}, "sender: unknown key"),
    ],
)
def test_each_problem_names_its_key(tmp_path, content, detail):
    assert load_error(tmp_path, content) == detail
    assert schema.problems(content)[0] == detail
    with pytest.raises(MailError) as e:
        settings.check(content)
    assert (e.value.code, e.value.detail) == (SETTINGS, detail)


def test_good_variants_pass():
    pin = ":".join(["AB"] * 32)
    assert schema.problems(merged(smtp={"verify": "pin", "pin_sha256": pin, "deadline_s": 60})) == []
    assert schema.problems(merged(smtp={"verify": "off", "ca_file": "", "tls": "implicit", "port": 465})) == []
    assert schema.problems(merged(mail={"from": '"Board 7" <b7@example.com>', "to": ["a@example.com"]})) == []


def test_problems_lists_every_problem():
    got = schema.problems({"smtp": {"port": 0, "tls": "x"}, "mail": {"from": "x"}, "y": 1})
    assert got == [
        "y: unknown key",
        "mail.from: not an address: x",
        "smtp.port: must be an integer 1..65535",
        "smtp.tls: must be one of required, opportunistic, off, implicit, not x",
        "smtp.host: missing",
    ]


@pytest.mark.parametrize(
    "group,key",
    [
        ("smtp", "host"),
        ("smtp", "ehlo_name"),
        ("smtp", "user"),
        ("smtp", "password"),
        ("incoming", "host"),
        ("incoming", "password"),
        ("mail", "subject_prefix"),
        ("wifi", "ssid"),
        ("clock", "ntp_host"),
    ],
)
@pytest.mark.parametrize("bad", ["\r", "\n", "\0"])
def test_cr_lf_nul_refused_in_every_string(tmp_path, group, key, bad):
    content = merged(**{group: {key: "x" + bad + "QUIT"}})
    assert load_error(tmp_path, content) == "%s.%s: CR/LF/NUL not allowed" % (group, key)


def test_cr_lf_refused_in_list_items(tmp_path):
    content = merged(mail={"to": ["ops@example.com", "ops@example.com\r\nRCPT TO:<x@evil.example>"]})
    assert load_error(tmp_path, content) == "mail.to: CR/LF/NUL not allowed"


SECRETS = {
    "smtp": {"auth": "log_on_using", "user": "su", "password": "smtp-S3cret"},
    "incoming": {"password": "pop-S3cret"},
    "wifi": {"password": "wifi-S3cret"},
}


def test_passwords_never_in_text_forms(tmp_path, capsys):
    d = settings.load(write(tmp_path / "s.json", merged(**SECRETS)))
    print(d, d["smtp"], [d], "%s %r" % (d, d["incoming"]))
    texts = [
        str(d),
        repr(d),
        str(d["smtp"]),
        repr(d["wifi"]),
        json.dumps(settings.redacted(d)),
        capsys.readouterr().out,
    ]
    for text in texts:
        for group in SECRETS:
            assert SECRETS[group]["password"] not in text
        assert "***" in text
    assert settings.redacted(d)["wifi"]["password"] == "***"
    assert settings.redacted(d)["smtp"]["host"] == "smtp.example.com"
    # The values themselves are untouched: the edges need them.
    assert d["wifi"]["password"] == "wifi-S3cret"
    c = client(d)
    assert (c.user, c.password) == (b"su", b"smtp-S3cret")  # log_on_using: the smtp account


def test_credentials_per_auth_mode():
    def resolved(auth, **incoming):
        own = {"user": "su", "password": "sp"} if auth == "log_on_using" else {}
        d = settings.check(
            merged(
                smtp=dict(own, auth=auth),
                incoming=dict({"host": "pop.example.com", "user": "pu", "password": "pp"}, **incoming),
            )
        )
        return client(d)

    def creds(auth, **incoming):
        c = resolved(auth, **incoming)
        return c.user, c.password

    assert creds("same_as_incoming") == (b"pu", b"pp")
    assert creds("same_as_incoming", user="") == (None, b"")  # no account: no AUTH (530 -> #839)
    assert creds("log_on_using") == (b"su", b"sp")
    assert creds("pop_before_smtp") == (None, b"")
    assert creds("none") == (None, b"")
    # POP before SMTP logs in to the incoming server first, with its account.
    assert resolved("pop_before_smtp").pop == ("pop.example.com", 110, "starttls", b"pu", b"pp")
    assert resolved("same_as_incoming").pop is None


def test_save_then_load_keeps_previous_as_backup(tmp_path):
    path = str(tmp_path / "settings.json")
    settings.save(merged(smtp={"port": 2525}), path)
    first = open(path, "rb").read()
    assert not os.path.exists(path + ".bak")
    settings.save(merged(SECRETS, smtp={"port": 2526}), path)
    assert open(path + ".bak", "rb").read() == first
    assert sorted(os.listdir(tmp_path)) == ["settings.json", "settings.json.bak"]  # no .tmp left
    d = settings.load(path)
    assert d["smtp"]["port"] == 2526 and d["smtp"]["password"] == "smtp-S3cret"  # not the backup
    saved = json.loads(open(path).read())
    assert list(saved)[0] == settings.STAMP
    del saved[settings.STAMP]
    assert saved == d
    second = open(path, "rb").read()
    settings.save(d, path)  # a loaded object saves as it is: the same bytes
    assert open(path, "rb").read() == open(path + ".bak", "rb").read() == second


def test_load_and_save_leave_flashfile_as_they_found_it(tmp_path, monkeypatch):
    # A board that only sends keeps no mailer.flashfile on its heap after load() or save();
    # when another importer (the outbox) has it, it stays that one module, not a second copy.
    import mailer

    path = str(tmp_path / "settings.json")
    monkeypatch.delitem(sys.modules, "mailer.flashfile")
    monkeypatch.delattr(mailer, "flashfile")
    settings.save(merged(smtp={"port": 2525}), path)
    assert "mailer.flashfile" not in sys.modules
    assert settings.load(path)["smtp"]["port"] == 2525
    assert "mailer.flashfile" not in sys.modules and not hasattr(mailer, "flashfile")
    monkeypatch.setitem(sys.modules, "mailer.flashfile", flashfile)
    assert settings.load(path)["smtp"]["port"] == 2525
    assert sys.modules["mailer.flashfile"] is flashfile


def _no_schema(monkeypatch):
    # Makes any import of mailer.schema fail: load() must not need it.
    import sys

    import mailer

    monkeypatch.delattr(mailer, "schema", raising=False)
    monkeypatch.setitem(sys.modules, "mailer.schema", None)


def test_a_stamped_file_is_taken_as_it_is(tmp_path, monkeypatch):
    path = str(tmp_path / "settings.json")
    settings.save(merged(SECRETS, smtp={"port": 2525}), path)
    want = settings.load(path)
    _no_schema(monkeypatch)
    assert settings.load(path) == want  # no check: the schema is never imported
    # Nor the reading behind it: a stamped file is read by mailer.settings itself, so no name of
    # settingsfile or flashfile is interned on a board that boots and sends.
    for name in ("settingsfile", "flashfile"):
        monkeypatch.setitem(sys.modules, "mailer." + name, None)  # importing it would fail
    got = settings.load(path)
    assert got == want and type(got) is settings.Settings and type(got["smtp"]) is settings.Settings
    for name in ("settingsfile", "flashfile"):
        monkeypatch.delitem(sys.modules, "mailer." + name)
    assert repr(got).count("***") == 3  # the secrets print hidden, as from the full reading
    # The stamp is the CRC-32 of the bytes after it: an edit (even a valid one) is checked.
    data = open(path, "rb").read()
    open(path, "wb").write(data.replace(b'"port": 2525', b'"port": 2526'))
    with pytest.raises(ImportError):
        settings.load(path)
    monkeypatch.undo()
    assert settings.load(path)["smtp"]["port"] == 2526
    open(path, "wb").write(data.replace(b'"port": 2525', b'"port": 0'))
    assert load_error(tmp_path, open(path).read()) == "smtp.port: must be an integer 1..65535"


def test_load_with_stamp_saves_a_checked_file_stamped(tmp_path, monkeypatch):
    path = write(tmp_path / "settings.json", merged(smtp={"port": 2525}))
    plain = open(path, "rb").read()
    d = settings.load(path)
    assert open(path, "rb").read() == plain  # stamp=False: the file is left alone
    assert settings.load(path, stamp=True) == d
    assert open(path + ".bak", "rb").read() == plain  # the hand-written file is the backup
    assert open(path, "rb").read().startswith(b'{"stamp": "')
    _no_schema(monkeypatch)
    assert settings.load(path) == d  # the next load is the cheap one
    monkeypatch.undo()
    bad = write(tmp_path / "bad.json", merged(smtp={"port": 0}))
    with pytest.raises(MailError):
        settings.load(bad, stamp=True)
    assert sorted(os.listdir(tmp_path)) == ["bad.json", "settings.json", "settings.json.bak"]


def test_save_checked_skips_the_check(tmp_path):
    path = str(tmp_path / "settings.json")
    d = settings.check(MINIMAL)
    settings.save(d, path, checked=True)
    assert settings.load(path) == d
    with pytest.raises(MailError):
        settings.save(merged(smtp={"port": 0}), path)  # not checked=True: checked


def test_save_refuses_invalid_and_leaves_files_alone(tmp_path):
    path = str(tmp_path / "settings.json")
    settings.save(MINIMAL, path)
    before = open(path, "rb").read()
    with pytest.raises(MailError) as e:
        settings.save(merged(smtp={"port": -1}), path)
    assert (e.value.code, e.value.detail) == (SETTINGS, "smtp.port: must be an integer 1..65535")
    assert open(path, "rb").read() == before and sorted(os.listdir(tmp_path)) == ["settings.json"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "missing", "array"])
def test_load_falls_back_to_backup(tmp_path, damage):
    path = str(tmp_path / "settings.json")
    settings.save(merged(smtp={"port": 2525}), path)
    settings.save(merged(smtp={"port": 2526}), path)
    good = open(path, "rb").read()
    if damage == "missing":
        os.remove(path)
    else:
        data = {"truncate": good[: len(good) // 2], "garbage": b"\xff\x00{{", "empty": b"", "array": b"[1, 2]"}[damage]
        open(path, "wb").write(data)
    d = settings.load(path)
    assert d["smtp"]["port"] == 2525  # the backup's content
    assert d == settings.load(path + ".bak")


def test_load_without_any_good_file(tmp_path):
    path = str(tmp_path / "settings.json")
    detail = load_error(tmp_path, '{"smtp": ')
    assert detail.startswith(path + ": unreadable and no good backup (")
    open(path + ".bak", "w").write("also bad")
    assert load_error(tmp_path, "{").startswith(path + ": unreadable and no good backup (")


def test_invalid_main_file_is_reported_not_masked_by_backup(tmp_path):
    # A readable file with a mistake in it is the user's to fix: no silent fallback.
    path = str(tmp_path / "settings.json")
    settings.save(MINIMAL, path)
    settings.save(MINIMAL, path)
    assert load_error(tmp_path, merged(smtp={"port": 0})) == "smtp.port: must be an integer 1..65535"


def test_flashfile_chunks_and_fallback(tmp_path):
    path = str(tmp_path / "f")
    flashfile.write_atomic(path, (c for c in [b"ab", b"cd"]), backup=path + ".b")
    assert flashfile.read_with_fallback(path, path + ".b") == (b"abcd", False)
    flashfile.write_atomic(path, b"new", backup=path + ".b")
    assert flashfile.read_with_fallback(path, path + ".b") == (b"new", False)
    os.remove(path)
    assert flashfile.read_with_fallback(path, path + ".b") == (b"abcd", True)
    assert flashfile.read_with_fallback(path + ".b", None, parse=lambda b: b.upper()) == (b"ABCD", False)
    with pytest.raises(OSError):
        flashfile.read_with_fallback(path, str(tmp_path / "none"))


# ---- the host tool (python -m tools.settings) ----


def run_tool(*args):
    return subprocess.run(
        [sys.executable, "-m", "tools.settings", *args], capture_output=True, text=True, cwd=mpy.ROOT, timeout=30
    )


def test_tool_new_writes_a_file_that_checks(tmp_path):
    path = str(tmp_path / "s.json")
    r = run_tool("new", path)
    assert r.returncode == 0 and "smtp.tls" in r.stderr
    assert schema.problems(json.load(open(path))) == []
    assert run_tool("new", path).returncode == 1  # never overwrites without --force
    assert run_tool("new", path, "--force").returncode == 0


def test_tool_check(tmp_path, certs):
    shutil.copy(certs["ca_der"], tmp_path / "ca.der")  # smtp.ca_file, beside the settings file
    good = write(tmp_path / "good.json", merged(version=1))
    r = run_tool("check", good)
    assert (r.returncode, r.stdout) == (0, good + ": ok\n")
    # What only the host can see: the CA file (relative to the settings file) and the board.
    cases = [
        (
            {"smtp": {"ca_file": "none.der"}},
            "smtp.ca_file: cannot read %s (No such file or directory)" % (tmp_path / "none.der"),
        ),
        (
            {"smtp": {"ca_file": "good.json"}},
            "smtp.ca_file: %s is not a certificate (PEM or DER)" % (tmp_path / "good.json"),
        ),
        ({"board": "no_such_board"}, "board: no boards/no_such_board.json (see boards/README.md)"),
    ]
    for change, problem in cases:
        path = write(tmp_path / "host.json", merged(**change))
        r = run_tool("check", path)
        assert (r.returncode, r.stdout) == (1, path + ": " + problem + "\n")
    dup = write(
        tmp_path / "dup.json",
        '{"smtp": {"host": "a.example.com", "tls": "off", "tls": "required"}, "mail": {"from": "b@example.com"}}',
    )
    r = run_tool("check", dup)
    assert (r.returncode, r.stdout) == (1, dup + ": smtp.tls: duplicate key\n")
    bad = write(tmp_path / "bad.json", merged(smtp={"port": 0, "host": ""}, extra=1))
    r = run_tool("check", bad)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        bad + ": extra: unknown key",
        bad + ": smtp.port: must be an integer 1..65535",
        bad + ": smtp.host: missing",
    ]
    notjson = write(tmp_path / "nj.json", '{"smtp": ')
    r = run_tool("check", notjson)
    assert r.returncode == 1 and r.stdout.startswith(notjson + ": ")
    old = write(tmp_path / "old.json", {"version": 0, "smtp_server": "m.example.com"})
    r = run_tool("check", old)
    assert (r.returncode, r.stdout) == (1, old + ": version: must be 1\n")
    stamped = str(tmp_path / "stamped.json")
    settings.save(MINIMAL, stamped)
    r = run_tool("check", stamped)
    assert (r.returncode, r.stdout) == (0, stamped + ": ok\n")


def test_tool_show_hides_passwords(tmp_path):
    path = write(tmp_path / "s.json", merged(**SECRETS))
    r = run_tool("show", path)
    assert r.returncode == 0
    shown = json.loads(r.stdout)
    assert shown == settings.redacted(settings.load(path))
    assert shown["smtp"]["password"] == shown["wifi"]["password"] == "***"
    assert "S3cret" not in r.stdout + r.stderr
    bad = write(tmp_path / "bad.json", merged(SECRETS, smtp={"tls": "no"}))
    r = run_tool("show", bad)
    assert r.returncode == 1 and "S3cret" not in r.stdout + r.stderr
    assert r.stdout == bad + (
        ": #861 Settings invalid (smtp.tls: must be one of required, opportunistic, off, implicit, not no)\n"
    )


def test_tool_show_says_when_backup_was_used(tmp_path):
    path = str(tmp_path / "s.json")
    settings.save(MINIMAL, path)
    settings.save(MINIMAL, path)
    open(path, "w").write("{")
    r = run_tool("show", path)
    assert r.returncode == 0 and "showing the backup " + path + ".bak" in r.stderr


def test_tool_push(tmp_path, monkeypatch, certs):
    calls = []
    monkeypatch.setattr(tool.subprocess, "run", lambda argv: calls.append(argv) or subprocess.CompletedProcess(argv, 0))
    shutil.copy(certs["ca_der"], tmp_path / "ca.der")
    good = write(tmp_path / "good.json", MINIMAL)
    assert tool.main(["push", good, "--port", "/dev/ttyUSB0"]) == 0
    # The CA file goes too, as make deploy copies it: from beside the settings, to the name they give.
    assert calls == [
        [
            sys.executable,
            "-m",
            "mpremote",
            "connect",
            "/dev/ttyUSB0",
            "fs",
            "cp",
            good,
            ":settings.json",
            "+",
            "fs",
            "cp",
            str(tmp_path / "ca.der"),
            ":ca.der",
        ]
    ]
    assert tool.main(["push", good, "--resume"]) == 0
    assert calls[1][3:6] == ["connect", "auto", "resume"]
    bad = write(tmp_path / "bad.json", {"smtp": {}})
    assert tool.main(["push", bad]) == 1 and len(calls) == 2  # nothing copied


def test_tool_push_sends_a_pem_ca_as_der(tmp_path, monkeypatch, certs):
    # A board reads the CA at every connect: from DER in one piece, from PEM with two copies more.
    calls = []
    monkeypatch.setattr(tool.subprocess, "run", lambda argv: calls.append(argv) or subprocess.CompletedProcess(argv, 0))
    shutil.copy(certs["ca_pem"], tmp_path / "ca.pem")
    cfg = json.loads(json.dumps(MINIMAL))
    cfg["smtp"]["ca_file"] = "ca.pem"
    good = write(tmp_path / "good.json", cfg)
    assert tool.main(["push", good, "--port", "/dev/ttyUSB0"]) == 0
    (argv,) = calls
    assert argv[-1] == ":ca.pem" and argv[-2] != str(tmp_path / "ca.pem")
    with open(argv[-2], "rb") as f, open(certs["ca_der"], "rb") as g:
        assert f.read() == g.read()
    (tmp_path / "ca.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    assert tool.main(["push", good]) == 1 and len(calls) == 1  # refused by the check: nothing copied


# ---- the same code on the MicroPython Unix port ----


def test_unix_port_gives_the_same_results_as_cpython(tmp_path, monkeypatch):
    script = os.path.join(HERE, "mp_settings_cases.py")
    cp = subprocess.run(
        [sys.executable, script, str(tmp_path / "cp.json")],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ, PYTHONPATH=mpy.FIRMWARE),
    )
    mp = mpy.run([script, str(tmp_path / "mp.json")])
    assert cp.returncode == 0 and mp.returncode == 0, cp.stderr + mp.stderr
    a = [json.loads(ln) for ln in cp.stdout.splitlines()]
    b = [json.loads(ln) for ln in mp.stdout.splitlines()]
    assert len(a) == 9 and a == b
    assert a[0]["credentials"] == ["smtp-user", "smtp-pw"] and a[0]["secret_shown"] == []
    assert a[0]["deadline_ms"] == 30_000 and a[0]["same_after_load"] is True
    assert a[1]["problems"] == ["smtp.host: missing", "mail.from: missing"]
    assert a[6]["settings"]["smtp"]["auth"] == "log_on_using" and a[6]["credentials"] == ["u", "p"]
    assert a[6]["deadline_ms"] == 45_000 and a[6]["settings"]["smtp"]["password"] == "***"
    assert a[3]["problems"] == a[7]["problems"] == ["version: must be 1"]
    assert a[8]["problems"][:2] == ["sender: unknown key", "smtp_server: unknown key"]
    # The stamp the port wrote is valid here: CPython takes its file without a check.
    _no_schema(monkeypatch)
    assert settings.load(str(tmp_path / "mp.json")) == settings.load(str(tmp_path / "cp.json"))


def test_unix_port_load_save_and_fallback(tmp_path):
    path = str(tmp_path / "settings.json")
    code = """
from mailer import settings
from mailer.errors import MailError
p = %r
settings.save(%r, p)
settings.save(%r, p)
d = settings.load(p)
print(d['smtp']['port'], open(p).read()[:11], str(d).count('***'))
open(p, 'wb').write(b'{"smtp": {"ho')
d = settings.load(p)
print(d['smtp']['port'], d == settings.load(p + '.bak'))
open(p, 'w').write('{"smtp": {"host": "h", "port": 0}}')
try:
    settings.load(p)
except MailError as e:
    print(e.code, e.detail)
""" % (path, merged(smtp={"port": 2525}), merged(SECRETS, smtp={"port": 2526}))
    r = mpy.run_code(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ['2526 {"stamp": " 3', "2525 True", "861 smtp.port: must be an integer 1..65535"]
    assert "S3cret" not in r.stdout


# ---- bounded and unambiguous files, on CPython and on the Unix port ----
LOAD_CASES = """
import json, sys
from mailer import settings
from mailer.errors import MailError
for p in sys.argv[1:]:
    try:
        d = settings.load(p)
        print(json.dumps(["ok", d["smtp"]["port"]]))
    except MailError as e:
        print(json.dumps([e.code, e.detail]))
"""


def _bounded_files(tmp_path):
    good = tmp_path / "good.json"
    settings.save(merged(smtp={"port": 2525}), str(good))
    files = []

    def case(name, data, backup):
        p = tmp_path / name
        if isinstance(data, int):  # a sparse file of that size: no disk, no RAM needed here
            with open(p, "wb") as f:
                f.truncate(data)
        else:
            p.write_bytes(data)
        if backup == "big":
            with open(tmp_path / (name + ".bak"), "wb") as f:
                f.truncate(data)
        elif backup:
            (tmp_path / (name + ".bak")).write_bytes(good.read_bytes())
        files.append(str(p))

    base = json.dumps(MINIMAL)[:-1]
    case("dup.json", b'{"smtp": {"host": "h", "tls": "required", "tls": "off"}, "mail": {"from": "a@b.example"}}', True)
    case("dup2.json", (base + ', "smtp": {"host": "h", "tls": "off"}}').encode(), True)
    case("dup3.json", (base + ', "b\\u006fard": "esp32", "board": "unix"}').encode(), False)
    case("big.json", 30 * 1024 * 1024, True)
    case("big-bigbak.json", 30 * 1024 * 1024, "big")
    case("deep.json", b"[" * 100_000, True)
    case("deep-nobak.json", b'{"smtp": ' * 20 + b"1" + b"}" * 20, False)
    case("deep-obj.json", b'{"a": [[[[[[[[[[1]]]]]]]]]]}', False)
    case("ehlo.json", json.dumps(merged(smtp={"ehlo_name": "bad name!"})).encode(), False)
    case("strings.json", json.dumps(merged(smtp={"host": '[[[{{{"\\\\', "ehlo_name": "[192.0.2.7]"})).encode(), False)
    return files


BOUNDED_WANT = [
    [861, "smtp.tls: duplicate key"],
    [861, "smtp: duplicate key"],
    [861, "board: duplicate key"],
    ["ok", 2525],  # 30 MB: not read, the backup is
    [861, "%s: unreadable and no good backup (larger than 16384 bytes)"],
    ["ok", 2525],  # 100,000 brackets: not parsed, the backup is
    [861, "%s: unreadable and no good backup (nested deeper than 8)"],
    [861, "%s: unreadable and no good backup (nested deeper than 8)"],
    [861, "smtp.ehlo_name: must be a domain or an address literal ([192.0.2.1])"],
    ["ok", 587],  # brackets and quotes inside strings are no nesting
]


def _want(files):
    return [[w[0], w[1] % files[i]] if "%s" in str(w[1]) else w for i, w in enumerate(BOUNDED_WANT)]


def test_duplicates_size_and_depth_are_861_and_the_backup_is_used(tmp_path):
    files = _bounded_files(tmp_path)
    cp = subprocess.run(
        [sys.executable, "-c", LOAD_CASES, *files],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ, PYTHONPATH=mpy.FIRMWARE),
    )
    assert cp.returncode == 0, cp.stderr
    assert [json.loads(ln) for ln in cp.stdout.splitlines()] == _want(files)


def test_unix_port_refuses_duplicates_and_bounds_size_and_depth(tmp_path):
    files = _bounded_files(tmp_path)
    script = tmp_path / "cases.py"
    script.write_text(LOAD_CASES)
    # 128 KiB of heap: a 30 MB file read whole would end in MemoryError (#869).
    r = mpy.run([str(script), *files], heapsize="128k")
    assert r.returncode == 0, r.stderr
    assert [json.loads(ln) for ln in r.stdout.splitlines()] == _want(files)


def test_scan_finds_duplicates_at_every_level_and_ignores_strings():
    data = b'{"a": {"x": 1, "y": "\\"x\\": 2", "x": 3}, "b": [{"k": 1}], "a": {}, "s": "{\\\\"}'
    assert schema.scan(data) == ["a.x: duplicate key", "a: duplicate key"]
    assert schema.scan(json.dumps(merged(smtp={"ehlo_name": "x"})).encode()) == []


@pytest.mark.parametrize(
    "name,ok",
    [
        ("board.test", True),
        ("localhost", True),
        ("a-1.example", True),
        ("[192.0.2.1]", True),
        ("[IPv6:2001:db8::1]", True),
        ("-a.example", False),
        ("a..example", False),
        ("a_b.example", False),
        ("[256.0.0.1]", False),
        ("[192.0.2]", False),
        ("[IPv6:zz]", False),
        ("a" * 64 + ".example", False),
        ("bad name", False),
        ("é.example", False),
    ],
)
def test_ehlo_name_is_a_domain_or_an_address_literal(name, ok):
    bad = schema.problems(merged(smtp={"ehlo_name": name}))
    assert bad == ([] if ok else ["smtp.ehlo_name: must be a domain or an address literal ([192.0.2.1])"])
