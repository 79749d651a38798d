"""RFC 9162 Merkle trees (hub/audit/merkle.py): the conformance vectors, and properties of our own proofs.

The vectors in tests/vectors/rfc9162/ are copied from transparency-dev/merkle (Apache License 2.0, see the
LICENSE file there), so a clone passes with nothing beside it. Each JSON file is one case: its inputs, a description and
`wantErr`, whether verification must fail. Hashes are base64 and a missing proof is `null`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from hub.audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parent / "vectors" / "rfc9162"
KINDS = ("inclusion", "consistency")
FIELDS = {
    "inclusion": {"leafIdx", "treeSize", "root", "leafHash", "proof", "desc", "wantErr"},
    "consistency": {"size1", "size2", "root1", "root2", "proof", "desc", "wantErr"},
}
MISSING = f"the RFC 9162 conformance vectors are missing: expected them in {VECTORS}"

# The leaves the vectors' happy paths were generated from (the RFC 6962 test data of certificate-transparency).
RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]

MAX_SIZE = 64
EXHAUSTIVE_SIZE = 40  # up to this size, tamper tests try every wrong index and old size (beyond, the neighbours)


# The vectors -----------------------------------------------------------------------------------------------------


def _vector_params(kind: str) -> list[Any]:
    """One param a vector file of this kind, or one failing param when the folder is missing (never a skip)."""
    folder = VECTORS / kind
    files = sorted(folder.rglob("*.json")) if folder.is_dir() else []
    if not files:
        return [pytest.param(None, id=f"{kind}-vectors-missing")]
    return [pytest.param(path, id=path.relative_to(VECTORS).with_suffix("").as_posix()) for path in files]


def _load(path: Path | None, kind: str) -> dict[str, Any]:
    if path is None:
        pytest.fail(f"{MISSING} (no {kind}/**/*.json)")
    case: dict[str, Any] = json.loads(path.read_text())
    assert set(case) == FIELDS[kind], f"{path.name}: unexpected fields {sorted(case)}"
    assert isinstance(case["wantErr"], bool)
    return case


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _proof(value: list[str] | None) -> list[bytes]:
    return [_b64(item) for item in value or []]


def _outcome(check: Any, *args: Any) -> ProofError | None:
    try:
        check(*args)
    except ProofError as exc:
        return exc
    return None


def test_vector_folder_is_there_and_fully_recognised() -> None:
    assert VECTORS.is_dir(), MISSING
    files = sorted(VECTORS.rglob("*.json"))
    assert files, f"{MISSING} (the folder holds no JSON)"
    unknown = [str(path.relative_to(VECTORS)) for path in files if path.relative_to(VECTORS).parts[0] not in KINDS]
    assert not unknown, f"vector files the tests would not run: {unknown}"
    assert (VECTORS / "LICENSE").is_file(), "the vectors' LICENSE is missing"


@pytest.mark.parametrize("path", _vector_params("inclusion"))
def test_inclusion_vector(path: Path | None) -> None:
    case = _load(path, "inclusion")
    error = _outcome(
        verify_inclusion,
        _b64(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        _proof(case["proof"]),
        _b64(case["root"]),
    )
    if case["wantErr"]:
        assert error is not None, f"{case['desc']!r} verified but must fail"
    else:
        assert error is None, f"{case['desc']!r} must verify: {error}"


@pytest.mark.parametrize("path", _vector_params("consistency"))
def test_consistency_vector(path: Path | None) -> None:
    case = _load(path, "consistency")
    error = _outcome(
        verify_consistency,
        case["size1"],
        case["size2"],
        _b64(case["root1"]),
        _b64(case["root2"]),
        _proof(case["proof"]),
    )
    if case["wantErr"]:
        assert error is not None, f"{case['desc']!r} verified but must fail"
    else:
        assert error is None, f"{case['desc']!r} must verify: {error}"


def _happy_paths(kind: str) -> list[dict[str, Any]]:
    paths = sorted((VECTORS / kind).glob("[0-9]*/happy-path.json"))
    assert paths, f"{MISSING} (no {kind} happy paths)"
    return [json.loads(path.read_text()) for path in paths]


def test_our_proofs_equal_the_vectors_happy_paths() -> None:
    """Built from the same leaves, our roots and proofs are byte for byte the vectors' ones."""
    hashes = [leaf_hash(data) for data in RFC6962_LEAVES]
    for case in _happy_paths("inclusion"):
        size, index = case["treeSize"], case["leafIdx"]
        assert root(hashes[:size]) == _b64(case["root"])
        assert hashes[index] == _b64(case["leafHash"])
        assert inclusion_proof(hashes, index, size) == _proof(case["proof"])
    for case in _happy_paths("consistency"):
        assert root(hashes[: case["size1"]]) == _b64(case["root1"])
        assert root(hashes[: case["size2"]]) == _b64(case["root2"])
        assert consistency_proof(hashes, case["size1"], case["size2"]) == _proof(case["proof"])


# Reference definitions, literally as RFC 9162 2.1 writes them (recursive; fine for small trees) -------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return node_hash(_mth(d[:k]), _mth(d[k:]))


def _path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*_path(m, d[:k]), _mth(d[k:])]
    return [*_path(m - k, d[k:]), _mth(d[:k])]


def _subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*_subproof(m, d[:k], b), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


# Properties of our own proofs ---------------------------------------------------------------------------------------


@cache
def _leaves() -> tuple[bytes, ...]:
    return tuple(leaf_hash(i.to_bytes(4, "big")) for i in range(MAX_SIZE))


@cache
def _tree() -> MerkleTree:
    return MerkleTree(_leaves())


@cache
def _roots() -> tuple[bytes, ...]:
    return tuple(_mth(_leaves()[:n]) for n in range(MAX_SIZE + 1))


def _flip(value: bytes, bit: int = 0) -> bytes:
    return bytes([value[0] ^ (1 << bit), *value[1:]])


def _others(value: int, valid: range, n: int) -> list[int]:
    """Wrong values to try instead of `value`: all of them in small trees, the nearby ones in larger trees."""
    candidates = valid if n <= EXHAUSTIVE_SIZE else (value - 2, value - 1, value + 1, value + 2, value ^ 2, value ^ 4)
    return [other for other in candidates if other != value and other in valid]


def _fails(check: Any, *args: Any) -> bool:
    return _outcome(check, *args) is not None


def test_hashes_are_the_rfc_ones() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert root([]) == EMPTY_ROOT == MerkleTree().root()
    assert len(node_hash(b"a" * 32, b"b" * 32)) == 32


def test_roots_match_the_rfc_definition() -> None:
    leaves, tree = _leaves(), _tree()
    for n in range(MAX_SIZE + 1):
        assert root(leaves[:n]) == _roots()[n], n
        assert tree.root(n) == _roots()[n], n
    assert tree.root() == _roots()[MAX_SIZE]


def test_inclusion_proofs_verify_for_every_leaf() -> None:
    leaves, tree = _leaves(), _tree()
    for n in range(1, MAX_SIZE + 1):
        for i in range(n):
            proof = inclusion_proof(leaves, i, n)
            assert proof == _path(i, leaves[:n]), (i, n)
            assert tree.inclusion_proof(i, n) == proof, (i, n)
            verify_inclusion(leaves[i], i, n, proof, _roots()[n])


def test_consistency_proofs_verify_for_every_pair_of_sizes() -> None:
    leaves, tree = _leaves(), _tree()
    for n in range(1, MAX_SIZE + 1):
        for m in range(1, n + 1):
            proof = consistency_proof(leaves, m, n)
            assert proof == _subproof(m, leaves[:n], True), (m, n)
            assert tree.consistency_proof(m, n) == proof, (m, n)
            verify_consistency(m, n, _roots()[m], _roots()[n], proof)


def test_tampered_inclusion_fails() -> None:
    leaves = _leaves()
    for n in range(1, MAX_SIZE + 1):
        good_root = _roots()[n]
        for i in range(n):
            proof = inclusion_proof(leaves, i, n)
            leaf = leaves[i]
            assert _fails(verify_inclusion, _flip(leaf), i, n, proof, good_root), (i, n)
            assert _fails(verify_inclusion, leaf, i, n, proof, _flip(good_root, 7)), (i, n)
            assert _fails(verify_inclusion, leaf, i, n, proof, EMPTY_ROOT), (i, n)
            assert _fails(verify_inclusion, leaf, n, n, proof, good_root), (i, n)
            assert _fails(verify_inclusion, leaf, -1, n, proof, good_root), (i, n)
            for other in _others(i, range(n), n):
                assert _fails(verify_inclusion, leaf, other, n, proof, good_root), (i, other, n)
            for j in range(len(proof)):
                bad = [*proof[:j], _flip(proof[j], j % 8), *proof[j + 1 :]]
                assert _fails(verify_inclusion, leaf, i, n, bad, good_root), (i, n, j)
            assert _fails(verify_inclusion, leaf, i, n, [*proof, good_root], good_root), (i, n)
            assert _fails(verify_inclusion, leaf, i, n, [good_root, *proof], good_root), (i, n)
            if proof:
                assert _fails(verify_inclusion, leaf, i, n, proof[:-1], good_root), (i, n)
                assert _fails(verify_inclusion, leaf, i, n, [*proof[:-1], b""], good_root), (i, n)
            if len(proof) > 1 and proof[0] != proof[1]:
                assert _fails(verify_inclusion, leaf, i, n, [proof[1], proof[0], *proof[2:]], good_root), (i, n)


def test_tampered_consistency_fails() -> None:
    leaves = _leaves()
    roots = _roots()
    for n in range(1, MAX_SIZE + 1):
        for m in range(1, n + 1):
            proof = consistency_proof(leaves, m, n)
            assert _fails(verify_consistency, m, n, _flip(roots[m]), roots[n], proof), (m, n)
            assert _fails(verify_consistency, m, n, roots[m], _flip(roots[n], 5), proof), (m, n)
            assert _fails(verify_consistency, n + 1, n, roots[m], roots[n], proof), (m, n)
            assert _fails(verify_consistency, 0, n, EMPTY_ROOT, roots[n], proof), (m, n)
            assert _fails(verify_consistency, 0, n, EMPTY_ROOT, roots[n], []), (m, n)
            assert _fails(verify_consistency, m, n, roots[m], roots[n], [*proof, roots[n]]), (m, n)
            for j in range(len(proof)):
                bad = [*proof[:j], _flip(proof[j], j % 8), *proof[j + 1 :]]
                assert _fails(verify_consistency, m, n, roots[m], roots[n], bad), (m, n, j)
            if m == n:
                continue
            assert _fails(verify_consistency, m, n, roots[n], roots[m], proof), (m, n)
            assert _fails(verify_consistency, m, n, roots[m], roots[n], proof[:-1]), (m, n)
            assert _fails(verify_consistency, m, n, roots[m], roots[n], [roots[m], *proof]), (m, n)
            for other in _others(m, range(1, n), n):
                assert _fails(verify_consistency, other, n, roots[m], roots[n], proof), (m, other, n)


def test_sizes_and_indices_out_of_range_are_refused() -> None:
    leaves, tree = _leaves()[:5], MerkleTree(_leaves()[:5])
    for build_inclusion in (lambda i, s: inclusion_proof(leaves, i, s), tree.inclusion_proof):
        for index, size in ((5, None), (-1, None), (3, 3), (0, 0), (0, 6)):
            with pytest.raises(ValueError):
                build_inclusion(index, size)
    for build_consistency in (lambda m, n: consistency_proof(leaves, m, n), tree.consistency_proof):
        for old, new in ((0, None), (0, 0), (6, None), (4, 3), (1, 6)):
            with pytest.raises(ValueError):
                build_consistency(old, new)
    assert consistency_proof(leaves, 5) == [] == tree.consistency_proof(3, 3)
    with pytest.raises(ValueError):
        tree.append(b"short")
    with pytest.raises(ProofError, match="outside"):
        verify_inclusion(leaves[0], 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="cannot shrink"):
        verify_consistency(5, 4, root(leaves), root(leaves[:4]), [])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])


def test_a_large_tree_needs_no_deep_recursion_and_proofs_grow_with_log_n() -> None:
    n = (1 << 16) + 3
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    tree = MerkleTree(leaves)
    top = root(leaves)
    assert tree.root() == top
    for index in (0, 1, n // 2, n - 2, n - 1):
        proof = tree.inclusion_proof(index)
        assert len(proof) <= n.bit_length()
        verify_inclusion(leaves[index], index, n, proof, top)
    assert inclusion_proof(leaves, 12_345) == tree.inclusion_proof(12_345)
    for old in (1, 3, 4096, 65_537, n - 1):
        proof = tree.consistency_proof(old)
        assert len(proof) <= 2 * n.bit_length()
        verify_consistency(old, n, tree.root(old), top, proof)
    assert consistency_proof(leaves, 65_537) == tree.consistency_proof(65_537)
