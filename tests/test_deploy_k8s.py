"""The Kubernetes manifests (deploy/k8s/) are valid and agree with the hub they run.

The schema check is deploy/k8s/validate.py, the one `make lint` runs (kubernetes-validate, offline, strict). The
rest reads the manifests as kustomize would and holds them against the hub itself: the configuration they give
loads through hub.config (which refuses unknown keys), the probes' paths are routes of the hub's router, the ports
and the per-pod URLs match the configuration, every Secret and ConfigMap they name is made, and every file the
configuration names is mounted from the Secret that holds it.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import tomllib
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from hub.app import create_app
from hub.config import ENV_PREFIX, Config, load_config

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
# What the downward API gives a pod in the example below; $(VAR) in the manifests is expanded with these.
POD = {"POD_NAME": "porchlight-hub-1", "POD_NAMESPACE": "porchlight", "POD_IP": "192.0.2.11"}
FIELD_REFS = {"metadata.name": "POD_NAME", "metadata.namespace": "POD_NAMESPACE", "status.podIP": "POD_IP"}
# Secrets the operator provides outside kustomize (named in docs/kubernetes.md).
OPERATORS_SECRETS = {"porchlight-tls"}
# Where the hub's routes that only other hubs may call begin (closed at the Ingress).
HUB_ONLY_PREFIX = "/relay"


def _validator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_validate", K8S / "validate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VALIDATE = _validator()


def _all(folder: Path = K8S) -> list[dict[str, Any]]:
    return [resource for _, resource in [*VALIDATE.resources(folder), *VALIDATE.generated(folder)]]


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [r for r in _all() if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _hub() -> dict[str, Any]:
    return _one("StatefulSet", "porchlight-hub")


def _container() -> dict[str, Any]:
    (container,) = _hub()["spec"]["template"]["spec"]["containers"]
    return container


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in env values (a variable defined earlier in the list, else left as is)."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


def _env() -> dict[str, str]:
    """The hub container's environment for the example pod, as the kubelet would make it."""
    env: dict[str, str] = {}
    for var in _container()["env"]:
        assert "valueFrom" in var or "value" in var, var
        if "valueFrom" in var:
            env[var["name"]] = POD[FIELD_REFS[var["valueFrom"]["fieldRef"]["fieldPath"]]]
        else:
            env[var["name"]] = _expand(var["value"], env)
    return env


def _mounts() -> dict[str, dict[str, Any]]:
    """Mount path -> the volume mounted there."""
    volumes = {v["name"]: v for v in _hub()["spec"]["template"]["spec"]["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in _container()["volumeMounts"]}


def _config(tmp_path: Path) -> Config:
    """The configuration a hub pod reads: the ConfigMap's hub.toml where PORCHLIGHT_CONFIG points, with the pod's
    environment on top, through hub.config (unknown keys refused)."""
    env = _env()
    config_path = PurePosixPath(env["PORCHLIGHT_CONFIG"])
    volume = _mounts()[str(config_path.parent)]
    config_map = _one("ConfigMap", volume["configMap"]["name"])
    local = tmp_path / config_path.name
    local.write_text(config_map["data"][config_path.name], encoding="utf-8")
    return load_config(None, {**env, "PORCHLIGHT_CONFIG": str(local)})


def test_the_manifests_pass_the_schema_check() -> None:
    assert VALIDATE.problems() == []


def test_the_schema_check_refuses_a_broken_manifest(tmp_path: Path) -> None:
    """The check is strict: an unknown field, a misspelt kind, a wrong type, an unlisted file each fail it."""
    broken = tmp_path / "k8s"
    shutil.copytree(K8S, broken)
    hub = broken / "statefulset.yaml"
    hub.write_text(hub.read_text().replace("readinessProbe:", "readinesProbe:"))
    pdb = broken / "poddisruptionbudget.yaml"
    pdb.write_text(pdb.read_text().replace("kind: PodDisruptionBudget", "kind: PodDisruptionBudgit"))
    services = broken / "services.yaml"
    services.write_text(services.read_text().replace("clusterIP: None", "clusterIP: [None]"))
    (broken / "extra.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stray}\n")
    problems = "\n".join(VALIDATE.problems(broken))
    assert "'readinesProbe' was unexpected" in problems
    assert "PodDisruptionBudgit" in problems
    assert "spec.clusterIP" in problems
    assert "extra.yaml: not listed" in problems
    assert VALIDATE.main(["validate.py", str(broken)]) == 1


def test_every_setting_the_manifests_give_is_a_hub_setting(tmp_path: Path) -> None:
    env = _env()
    config = _config(tmp_path)  # raises ConfigError naming any unknown key or bad value
    # Each PORCHLIGHT_ variable is a setting (load_config refused any that is not) or the config file's path.
    settings = {name for name in env if name.startswith(ENV_PREFIX)} - {"PORCHLIGHT_CONFIG"}
    assert settings, "the pod sets its per-hub settings in the environment"
    dumped = config.model_dump(mode="json")
    for name in settings:
        node: Any = dumped
        for part in name[len(ENV_PREFIX) :].lower().split("__"):
            assert isinstance(node, dict) and part in node, f"{name} is not a configuration key"
            node = node[part]
    # ... and takes effect per pod.
    assert config.node_id() == POD["POD_NAME"]
    assert config.http.host == POD["POD_IP"]
    assert config.http.metrics_host == POD["POD_IP"]
    assert config.media.ice_addresses == [POD["POD_IP"]]
    assert config.store.kind.value == "redis"
    # Redis through Sentinel, and an acknowledged withdrawal on the replica too (docs/kubernetes.md).
    assert config.store.redis_sentinels and config.store.redis_sentinel_master
    assert config.store.redis_wait_replicas >= 1
    assert config.cluster.whep_redirect is False  # one shared public address: a 307 would point back at it


def test_the_probes_are_routes_of_the_hub(tmp_path: Path) -> None:
    app = create_app(_config(tmp_path))
    gets = {r.canonical for route in app.router.routes() if route.method == "GET" for r in [route.resource] if r}
    container = _container()
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in gets, probe
        assert container[probe]["httpGet"]["port"] == "http"


def test_ports_and_addresses_match_the_configuration(tmp_path: Path) -> None:
    config = _config(tmp_path)
    ports = {p["name"]: p["containerPort"] for p in _container()["ports"]}
    assert ports == {"http": config.http.port, "metrics": config.http.metrics_port}
    hub = _hub()
    pod = hub["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    # The internal URL is the pod's name under the StatefulSet's headless Service, on the hub's port.
    headless = _one("Service", hub["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    internal = urlsplit(config.internal_base_url())
    assert internal.hostname == f"{POD['POD_NAME']}.{headless['metadata']['name']}.{POD['POD_NAMESPACE']}.svc"
    assert internal.port == config.http.port
    assert urlsplit(config.base_url()).scheme == "https" and config.http.secure_cookies
    # Services reach the hub's named ports; their selectors pick the hub pods.
    labels = hub["spec"]["template"]["metadata"]["labels"]
    assert hub["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for service in (r for r in _all() if r["kind"] == "Service" and "selector" in r["spec"]):
        assert service["spec"]["selector"].items() <= labels.items(), service["metadata"]["name"]
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, service["metadata"]["name"]
            assert port["port"] == ports[port["targetPort"]]
    assert _one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # The NetworkPolicy opens exactly the hub's TCP ports, and UDP (media) on any port.
    policy = _one("NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    tcp = {p["port"] for rule in policy["ingress"] for p in rule["ports"] if p["protocol"] == "TCP"}
    assert tcp == {config.http.port, config.http.metrics_port}
    assert any(p == {"protocol": "UDP"} for rule in policy["ingress"] if "from" not in rule for p in rule["ports"])


def test_the_ingress_serves_the_hub_and_closes_the_hub_only_routes(tmp_path: Path) -> None:
    config = _config(tmp_path)
    ingress = _one("Ingress")["spec"]
    (rule,) = ingress["rules"]
    assert rule["host"] == urlsplit(config.base_url()).hostname
    assert rule["host"] in ingress["tls"][0]["hosts"]
    services = {r["metadata"]["name"]: r for r in _all() if r["kind"] == "Service"}
    backends = {}
    for path in rule["http"]["paths"]:
        backend = path["backend"]["service"]
        service = services[backend["name"]]
        assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
        backends[path["path"]] = service
    assert "selector" in backends["/"]["spec"] and backends["/"]["spec"].get("clusterIP") != "None"
    # The relay's routes, wherever the hub has them, are behind a prefix the Ingress sends to no endpoint.
    closed = backends[HUB_ONLY_PREFIX]
    assert "selector" not in closed["spec"], "the closed Service must have no endpoints"
    app = create_app(config)
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if "relay" in path.split("/")[1:2]:
            assert path.startswith(HUB_ONLY_PREFIX + "/") or path == HUB_ONLY_PREFIX, path


def test_every_secret_and_config_map_named_is_made() -> None:
    made = {(r["kind"], r["metadata"]["name"]) for r in _all()}
    pod = _hub()["spec"]["template"]["spec"]
    named: set[tuple[str, str]] = set()
    for volume in pod["volumes"]:
        if "secret" in volume:
            named.add(("Secret", volume["secret"]["secretName"]))
        if "configMap" in volume:
            named.add(("ConfigMap", volume["configMap"]["name"]))
    for var in _container()["env"]:
        for ref, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            if ref in var.get("valueFrom", {}):
                named.add((kind, var["valueFrom"][ref]["name"]))
    assert ("ServiceAccount", pod["serviceAccountName"]) in made
    assert named - made == set()
    ingress_secrets = {tls["secretName"] for tls in _one("Ingress")["spec"]["tls"]}
    assert ingress_secrets - {name for kind, name in made if kind == "Secret"} == OPERATORS_SECRETS
    guide = (ROOT / "docs" / "kubernetes.md").read_text(encoding="utf-8")
    for name in OPERATORS_SECRETS | {name for kind, name in made if kind == "Secret"}:
        assert f"`{name}`" in guide, f"docs/kubernetes.md does not say what goes in {name}"


def test_every_file_the_configuration_names_is_mounted(tmp_path: Path) -> None:
    config = _config(tmp_path)
    mounts = _mounts()
    secrets = {r["metadata"]["name"]: r for r in _all() if r["kind"] == "Secret"}
    files = {
        "store.redis_password_file": config.store.redis_password_file,
        "cluster.peer_secret_file": config.cluster.peer_secret_file,
        "audit.signing_key_file": config.audit.signing_key_file,
        "notify.vapid_key_file": config.notify.vapid_key_file,
    }
    for key, path in files.items():
        assert path is not None, f"{key} is not set: every hub must share the same one"
        volume = mounts.get(str(PurePosixPath(path).parent))
        assert volume is not None and "secret" in volume, f"{key}: nothing mounted at {path}"
        (item,) = (i for i in volume["secret"]["items"] if i["path"] == PurePosixPath(path).name)
        assert item["key"] in secrets[volume["secret"]["secretName"]]["stringData"], key
    # Everything but the data directory and /tmp is read-only, and the hub is not root.
    container, pod = _container(), _hub()["spec"]["template"]["spec"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    writable = {path for path, volume in mounts.items() if "emptyDir" in volume}
    assert str(config.store.data_dir) in writable
    assert all(m.get("readOnly") for m in container["volumeMounts"] if m["mountPath"] not in writable)


def test_the_configuration_file_is_plain_toml_with_no_secret_in_it() -> None:
    text = (K8S / "hub.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    for key in ("redis_url", "redis_password"):
        assert key not in data.get("store", {}), f"store.{key} is a secret: a file from a Secret, not hub.toml"
    assert "smtp_password" not in data.get("notify", {})


def test_the_secret_files_are_never_committed() -> None:
    assert (K8S / "secrets" / ".gitignore").read_text().splitlines()[1:] == ["*", "!.gitignore"]
