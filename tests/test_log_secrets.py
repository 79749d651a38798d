"""The log scanner of issue 8 (tests/support/secrets.py) finds what it must and passes clean text.

Planted files are named `*.txt` and use their own registry: the session's end-of-run scan, which also reads every
`*.log` under the temporary directory, must not see these deliberate leaks.
"""

from __future__ import annotations

from pathlib import Path

from hub.auth.tokens import DEVICE_TOKEN_PREFIX, SESSION_TOKEN_PREFIX, new_token
from tests.support.secrets import SECRETS, Registry, SecretIndex, scan_text

CLEAN = """\
2026-01-01 10:00:00,000 INFO hub.access: POST /api/login 200 12.3ms
2026-01-01 10:00:00,100 INFO hub.media.whep: viewer joined camera front-door
2026-01-01 10:00:00,200 WARNING hub.media.sdp: bad offer: no ice-pwd in the offer
2026-01-01 10:00:00,300 INFO hub.api.session: refused: Bearer authentication-required
2026-01-01 10:00:00,400 INFO hub: wrote the session cookie (HttpOnly, SameSite=Strict)
2026-01-01 10:00:00,500 INFO hub.store: connected to redis://127.0.0.1:6379/0
"""


def _scan(text: str, secrets: dict[str, str] | SecretIndex | None = None) -> list[tuple[int, str]]:
    return [(leak.line, leak.what) for leak in scan_text(text, secrets or {}, Path("x.log"))]


def test_clean_text_passes() -> None:
    assert _scan(CLEAN, {"olivia-demo-pass": "password"}) == []


def test_a_registered_secret_is_found_plain_url_encoded_and_json_escaped(tmp_path: Path) -> None:
    registry = Registry()
    registry.add('p@ss/word "quoted"', "password")
    for unclear in ("short", "whatever", "xxxxxxxxxx"):  # not told from ordinary text: not checked
        registry.add(unclear, "password")
    planted = tmp_path / "planted.txt"
    planted.write_text(
        CLEAN
        + 'INFO hub: body was p@ss/word "quoted"\n'
        + "INFO hub: url /x?pw=p%40ss%2Fword%20%22quoted%22\n"
        + 'INFO hub: {"password": "p@ss/word \\"quoted\\""}\n'
        + "INFO hub: short\n",
        encoding="utf-8",
    )
    registry.watch(planted, alive=lambda: False)
    registry.scan_pending()
    assert [(leak.line, leak.what) for leak in registry.leaks] == [(7, "password"), (8, "password"), (9, "password")]
    assert all("p@ss" not in str(leak) for leak in registry.leaks)  # the report masks what it found
    assert str(planted.resolve()) in str(registry.leaks[0])
    assert "1 files, 1 secrets checked, 3 LEAKS" in registry.summary()


def test_patterns_need_no_registry() -> None:
    session, device = new_token(SESSION_TOKEN_PREFIX), new_token(DEVICE_TOKEN_PREFIX)
    text = (
        "a=ice-pwd:Zx9pQ2kLmN4oP5rS6tU7vW\n"
        f"DEBUG aiohttp: Authorization: Bearer {device}\n"
        f"INFO hub: Cookie: porchlight_session={session}\n"
        "INFO hub: store at redis://:correct-horse@127.0.0.1:6379/0\n"
        "INFO hub: key PRIVATE+KEY+porchlight.localhost/audit+0011aabb+AQID\n"
    )
    found = _scan(text)
    assert (1, "ice-pwd line") in found
    assert (2, "Bearer credential") in found and (2, "device token") in found
    assert (3, "cookie header") in found and (3, "session token") in found
    assert (4, "credentials in a URL") in found
    assert (5, "signer key") in found


def test_sdp_and_json_bodies_register_their_secrets() -> None:
    registry = Registry()
    registry.add_sdp("v=0\r\na=ice-ufrag:abcd\r\na=ice-pwd:Zx9pQ2kLmN4oP5rS6tU7vW\r\nm=video 9\r\n")
    registry.add_sdp("a=ice-pwd:not an ice password, mangled by a fuzzer\r\n")
    registry.add_json({"account": {"id": 1}, "token": "pls_tok3nvalue", "csrf_token": "csrf-value-1", "n": [1]})
    assert registry.secrets == {
        "Zx9pQ2kLmN4oP5rS6tU7vW": "ICE password",
        "pls_tok3nvalue": "token",
        "csrf-value-1": "csrf_token",
    }
    # An ICE password logged without its SDP attribute is still found.
    assert _scan("INFO aioice: remote password Zx9pQ2kLmN4oP5rS6tU7vW\n", registry.index) == [(1, "ICE password")]


def test_a_log_is_read_as_it_grows_and_to_its_end_when_its_writer_stops(tmp_path: Path) -> None:
    registry = Registry()
    registry.add("growing-secret-1", "password")
    log = tmp_path / "growing.txt"
    writing = True
    log.write_text("line one\npartial growing-sec", encoding="utf-8")
    registry.watch(log, alive=lambda: writing)
    registry.scan_pending()
    assert registry.leaks == [] and registry.logs[log.resolve()].lines == 1  # the partial line waits
    with log.open("a", encoding="utf-8") as file:
        file.write("ret-1\nclean\nlast growing-secret-1")  # the last line never gets its newline
    registry.scan_pending()
    assert [leak.line for leak in registry.leaks] == [2]
    writing = False
    registry.scan_pending()
    assert [leak.line for leak in registry.leaks] == [2, 4]
    log.unlink()
    registry.finish()  # a log read to its end and then removed is not reported as unread
    assert "removed" not in registry.summary()


def test_a_log_removed_before_it_was_read_is_reported(tmp_path: Path) -> None:
    registry = Registry()
    registry.watch(tmp_path / "never-written.txt")
    registry.finish()
    assert "(1 removed before they could be read)" in registry.summary()


def test_the_demo_banner_may_show_the_demo_log_ins() -> None:
    banner = (
        "  olivia   olivia-demo-pass   officer (metro-pd)\n"
        "Try: curl -c jar -H 'Content-Type: application/json' "
        '-d \'{"username":"olivia","password":"olivia-demo-pass"}\' http://127.0.0.1:8080/api/login\n'
    )
    assert _scan(banner, {"olivia-demo-pass": "password"}) == []
    assert _scan("2026 INFO hub: olivia-demo-pass\n", {"olivia-demo-pass": "password"}) == [(1, "password")]


def test_the_session_registry_knows_the_demo_passwords() -> None:
    assert SECRETS.secrets.get("olivia-demo-pass") == "password"
