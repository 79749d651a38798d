"""The documentation holds together: its links resolve, it names every configuration key, and nothing in the
repository reaches outside it (a clone must work with nothing beside it)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from hub.config import Config

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for a Markdown file's headings (fenced code left out)."""
    anchors, fenced = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_every_link_in_the_docs_resolves() -> None:
    broken = []
    for doc in DOCS:
        for target in _LINK.findall(doc.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            if not file.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such file)")
            elif not file.is_relative_to(ROOT):
                broken.append(f"{doc.relative_to(ROOT)}: {target} (outside the repository)")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def _keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and not prefix:
            yield from _keys(annotation, f"{name}.")
        else:
            yield prefix + name


def test_docs_configuration_names_every_key() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [key for key in _keys(Config) if f"`{key}`" not in text and not _in_a_pair(key, text)]
    assert not missing, f"docs/configuration.md does not document: {', '.join(missing)}"


def _in_a_pair(key: str, text: str) -> bool:
    """Keys documented together (`http.host`, `http.port`) are named once with their section, then bare."""
    section, _, name = key.rpartition(".")
    return bool(section) and re.search(rf"`{re.escape(section)}\.[a-z_]+`[^|\n]*`{re.escape(name)}`", text) is not None


# The folder beside the checkout that held the first design notes: a clone has nothing beside it. Spelt in two
# parts so this test, which only reads tracked files, does not itself name it.
BESIDE = "../" + "shared"


def test_nothing_reaches_outside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
    ).stdout.split("\0")
    outside = []
    for name in tracked:
        path = ROOT / name
        if not name or not path.is_file() or path.suffix in {".png", ".jpg", ".ico", ".woff2"}:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if BESIDE in text:
            outside.append(name)
    assert not outside, f"these name {BESIDE}, outside the repository: {outside}"
