"""Validate the Kubernetes manifests in this folder offline, strictly, against the Kubernetes versions named below.

`python deploy/k8s/validate.py [FOLDER]` (run by `make lint`; tests/test_deploy_k8s.py runs `problems()` too).
Every YAML file beside kustomization.yaml must be one of its `resources`, and each resource, plus the ConfigMaps
and Secrets its generators make, is checked with kubernetes-validate's bundled schemas: unknown fields are refused,
and so is a kind or apiVersion the schemas do not know (kubernetes-validate itself only warns about those).
Kustomize itself is not needed: the layout keeps to `resources`, `images`, `namespace` and the two generators,
which are read here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from kubernetes_validate import utils as k8s

# The oldest and the newest Kubernetes minor versions the manifests are meant for (supported upstream in 2026-12).
KUBERNETES_VERSIONS = ("1.35.0", "1.37.0")
HERE = Path(__file__).resolve().parent
KUSTOMIZATION = "kustomization.yaml"
# The fields of kustomization.yaml this layout uses (and this script understands).
KUSTOMIZE_FIELDS = frozenset(
    {"apiVersion", "kind", "namespace", "resources", "images", "configMapGenerator", "secretGenerator"}
)


def load_yaml(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of one file (empty ones left out)."""
    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def kustomization(folder: Path = HERE) -> dict[str, Any]:
    """The folder's kustomization.yaml."""
    (doc,) = load_yaml(folder / KUSTOMIZATION)
    return doc


def resources(folder: Path = HERE) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, resource) for every resource kustomization.yaml lists."""
    for name in kustomization(folder).get("resources", []):
        for doc in load_yaml(folder / name):
            yield name, doc


def generated(folder: Path = HERE) -> Iterator[tuple[str, dict[str, Any]]]:
    """The ConfigMaps and Secrets the generators make, as kustomize would (values read when the file exists:
    the secret files are the operator's and absent from the repository, so a placeholder stands in for them)."""
    spec = kustomization(folder)
    for field, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for generator in spec.get(field, []):
            data: dict[str, str] = {}
            for entry in generator.get("files", []):
                key, _, source = entry.rpartition("=")
                path = folder / source
                key = key or path.name
                data[key] = path.read_text(encoding="utf-8") if kind == "ConfigMap" or path.exists() else "placeholder"
            resource: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": generator["name"]}}
            resource["data" if kind == "ConfigMap" else "stringData"] = data
            yield f"{KUSTOMIZATION} ({field})", resource


def validate_resource(resource: dict[str, Any], version: str) -> str | None:
    """None if `resource` passes strict validation for `version`, else what is wrong."""
    try:
        k8s.validate(resource, version, strict=True)
    except k8s.ValidationError as exc:
        where = ".".join(str(part) for part in exc.path) or "(top)"
        return f"{where}: {exc.message}"
    except k8s.SchemaNotFoundError as exc:
        return str(exc.message)
    return None


def problems(folder: Path = HERE) -> list[str]:
    """Everything wrong with the manifests in `folder` (empty: all valid)."""
    found: list[str] = []
    spec = kustomization(folder)
    if spec.get("kind") != "Kustomization":
        found.append(f"{KUSTOMIZATION}: not a Kustomization")
    for field in sorted(set(spec) - KUSTOMIZE_FIELDS):
        found.append(f"{KUSTOMIZATION}: {field} is not checked here (extend validate.py first)")
    listed = set(spec.get("resources", []))
    on_disk = {path.name for path in folder.glob("*.y*ml")} - {KUSTOMIZATION}
    found += [f"{name}: not listed in {KUSTOMIZATION}'s resources" for name in sorted(on_disk - listed)]
    found += [f"{KUSTOMIZATION}: lists {name}, which does not exist" for name in sorted(listed - on_disk)]
    names: dict[tuple[str, str], str] = {}
    for origin, resource in [*resources(folder), *generated(folder)]:
        kind = str(resource.get("kind"))
        name = str(resource.get("metadata", {}).get("name"))
        if (kind, name) in names:
            found.append(f"{origin}: {kind} {name} also in {names[kind, name]}")
        names[kind, name] = origin
        for version in KUBERNETES_VERSIONS:
            problem = validate_resource(resource, version)
            if problem:
                found.append(f"{origin}: {kind} {name} (Kubernetes {version}): {problem}")
    return found


def main(argv: list[str]) -> int:
    """Print each problem; exit status 1 if there is any."""
    folder = Path(argv[1]) if len(argv) > 1 else HERE
    found = problems(folder)
    for problem in found:
        print(problem, file=sys.stderr)
    if not found:
        count = sum(1 for _ in resources(folder)) + sum(1 for _ in generated(folder))
        print(f"{count} Kubernetes resources valid (strict) for {', '.join(KUBERNETES_VERSIONS)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
