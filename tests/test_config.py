"""The typed configuration: file plus environment, unknown keys refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConfigError, ForwardingMode, load_config


def test_defaults_need_no_file() -> None:
    config = load_config(env={})
    assert config.http.port == 8080
    assert config.media.ice_servers == []
    assert config.media.forwarding is ForwardingMode.PASSTHROUGH
    assert config.base_url() == "http://127.0.0.1:8080"


def test_file_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text('[http]\nport = 9000\n[media]\nice_servers = [{urls = "stun:stun.example.org"}]\n')
    config = load_config(path, env={"PORCHLIGHT_HTTP__PORT": "9100", "PORCHLIGHT_LOG_LEVEL": "debug"})
    assert config.http.port == 9100
    assert config.log_level == "DEBUG"
    assert config.media.ice_servers[0].urls == "stun:stun.example.org"


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text("[http]\nport = 9200\n")
    assert load_config(env={"PORCHLIGHT_CONFIG": str(path)}).http.port == 9200


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[http]\nprot = 1\n", {}, "http.prot: unknown key"),
        ("colour = 'blue'\n", {}, "colour: unknown key"),
        ("", {"PORCHLIGHT_MEDIA__LOOPBAK": "true"}, "media.loopbak: unknown key"),
        ("[http]\nport = 'eighty'\n", {}, "http.port"),
        ("[http]\nport = 70000\n", {}, "http.port"),
        ("[media]\nforwarding = 'teleport'\n", {}, "media.forwarding"),
        ("[http\n", {}, "not valid TOML"),
        ("[limits]\nlogin_per_source = 'lots'\n", {}, "limits.login_per_source"),
        ("", {"PORCHLIGHT_LIMITS__FAILED_AUTH_DELAY_SECONDS": "[0.5, 0.1]"}, "limits.failed_auth_delay_seconds"),
        ("[limits]\npeers_total = 0\n", {}, "limits.peers_total"),
        ("[media]\nice_addresses = ['eth0']\n", {}, "media.ice_addresses"),
    ],
)
def test_bad_configuration_is_refused(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(path, env=env)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml", env={})


def test_example_config_is_valid() -> None:
    root = Path(__file__).resolve().parents[1]
    config = load_config(root / "deploy" / "hub.example.toml", env={})
    assert config.store.data_dir == Path("/var/lib/porchlight")
    assert config.media.forwarding is ForwardingMode.PASSTHROUGH


def test_lease_must_outlast_a_poll_and_a_store_timeout() -> None:
    with pytest.raises(ConfigError, match="lease_seconds must exceed"):
        load_config(env={"PORCHLIGHT_CONSENT__LEASE_SECONDS": "1.0"})
