# Network edge: Wi-Fi up and the clock set. The only module that imports `network` (and
# `ntptime`), inside functions, so the package imports on CPython; the simulated board puts
# stand-ins for both on its import path (tools/simboard_path/).

from mailer.compat import clock_ok, const, sleep_ms, ticks_diff, ticks_ms
from mailer.errors import MailError

# Device error codes (mailer.codes; README, "Device error codes").
_CLOCK = const(843)  # device clock not set / too far off
_NETWORK = const(860)  # network not connected
_SETTINGS = const(861)  # settings invalid / bad input

WIFI_WAIT_MS = const(15000)  # association + DHCP usually take 2-5 s; a weak AP up to ~10 s
WIFI_TRIES = const(2)
POLL_MS = const(100)
NTP_TRIES = const(3)


def wifi_up(wifi, wait_ms=WIFI_WAIT_MS, tries=WIFI_TRIES):
    """Connect the station interface with the settings' wifi group; returns the IP address.
    Each try waits at most wait_ms; failing all: MailError #860 (worth retrying later)."""
    import network

    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    if sta.isconnected():
        return sta.ifconfig()[0]
    if not wifi["ssid"]:
        raise MailError(_SETTINGS, "wifi.ssid: missing")
    for _ in range(tries):
        try:
            sta.connect(wifi["ssid"], wifi["password"])
        except OSError:
            pass  # "Wifi Internal Error" while a previous connect is still running: wait
        t0 = ticks_ms()
        while ticks_diff(ticks_ms(), t0) < wait_ms:
            if sta.isconnected():
                return sta.ifconfig()[0]
            sleep_ms(POLL_MS)
        sta.disconnect()  # start the next try from scratch
    raise MailError(_NETWORK, "Wi-Fi %s: not connected (status %s)" % (wifi["ssid"], sta.status()))


def clock_set(host, tries=NTP_TRIES):
    """Set the clock over NTP (certificate dates and Date headers need it): MailError #843
    when it cannot be set."""
    import ntptime

    ntptime.host = host
    err = None
    for _ in range(tries):
        try:
            ntptime.settime()
            err = None
            break
        except (OSError, OverflowError) as e:  # no answer (time-out), DNS, or a bad packet
            err = e
    if err is not None or not clock_ok():
        raise MailError(_CLOCK, "NTP %s: %s" % (host, err or "clock still not set"))
