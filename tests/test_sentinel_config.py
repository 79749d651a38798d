"""Where the configuration says Redis is: a URL or Sentinel, the password from a file or the environment (never in a
repr), and the settings that must go together refused apart; deploy/compose.yaml valid against the Compose
Specification, its hubs' environment a valid configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from hub.config import ConfigError, load_config
from hub.store.redis_sentinel import redis_target

SECRET = "sentinel-test-password-0123456789"


def _env(**values: str) -> dict[str, str]:
    return {"PORCHLIGHT_STORE__KIND": "redis", **{f"PORCHLIGHT_STORE__{k.upper()}": v for k, v in values.items()}}


def test_sentinels_from_the_environment_with_the_password_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    env = _env(
        redis_sentinels="10.0.0.7:26379, 10.0.0.8:26379,[::1]:26380",
        redis_sentinel_master="porchlight",
        redis_password_file=str(secret),
        redis_wait_replicas="1",
    )
    store = load_config(None, env).store
    target = redis_target(store)
    assert target.sentinels == (("10.0.0.7", 26379), ("10.0.0.8", 26379), ("::1", 26380))
    assert (target.master, target.password, target.url) == ("porchlight", SECRET, None)
    assert SECRET not in repr(target) and SECRET not in repr(store)
    assert store.redis_wait_replicas == 1


def test_a_json_list_and_a_url_password() -> None:
    store = load_config(None, _env(redis_sentinels='["s1:26379"]', redis_sentinel_master="m")).store
    assert redis_target(store).sentinels == (("s1", 26379),)
    direct = redis_target(load_config(None, _env(redis_url="redis://r:6379/0", redis_password=SECRET)).store)
    assert (direct.url, direct.password, direct.sentinels) == ("redis://r:6379/0", SECRET, ())
    assert SECRET not in repr(direct)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"redis_sentinels": "s1:26379"}, "go together"),
        ({"redis_sentinel_master": "porchlight"}, "go together"),
        ({"redis_sentinels": "s1", "redis_sentinel_master": "m"}, "host:port"),
        ({"redis_sentinels": "s1:0", "redis_sentinel_master": "m"}, "host:port"),
        ({"redis_wait_replicas": "1", "redis_wait_timeout_seconds": "1.0"}, "shorter than"),
    ],
)
def test_refused(values: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_config(None, _env(**values))


def test_an_unreadable_password_file_names_the_key(tmp_path: Path) -> None:
    store = load_config(None, _env(redis_url="redis://r/0", redis_password_file=str(tmp_path / "missing"))).store
    with pytest.raises(ConfigError, match="redis_password_file"):
        redis_target(store)


COMPOSE = Path(__file__).resolve().parent.parent / "deploy" / "compose.yaml"


def test_the_compose_file_is_valid_and_its_hubs_configuration_loads() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    services = YAML(typ="safe").load(COMPOSE.read_text(encoding="utf-8"))["services"]
    hubs = sorted(name for name in services if name.startswith("hub-"))
    assert hubs == ["hub-a", "hub-b", "hub-c"]
    assert {"redis-a", "redis-b", "sentinel-1", "sentinel-2", "sentinel-3", "proxy"} <= set(services)
    sentinel_ports = {services[f"sentinel-{n}"]["environment"]["SENTINEL_PORT"] for n in (1, 2, 3)}
    origins: set[str] = set()
    redirects: set[str] = set()
    for name in hubs:
        env = {key: str(value) for key, value in services[name]["environment"].items()}
        config = load_config(None, env)  # every variable names a real setting, with a valid value
        assert config.cluster.node_id == name
        store = config.store
        assert {address.rpartition(":")[2] for address in store.redis_sentinels} == sentinel_ports
        assert store.redis_wait_replicas == 1 and store.redis_password_file is not None
        origins.add(config.base_url())
        redirects.add(config.redirect_base_url())
    # The pages have one origin, which every hub's CSRF check accepts (a page served by the proxy's shared name
    # would otherwise be refused by the hub that answers it); redirects name each hub's own address.
    assert origins == {"https://porchlight.example.org"}
    assert redirects == {f"https://{name}.porchlight.example.org" for name in hubs}
