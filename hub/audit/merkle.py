"""Merkle trees as RFC 9162 (Certificate Transparency v2) section 2.1 defines them, with their proofs.

A tree is given by the hashes of its leaves, in order. Leaves hash as SHA-256(0x00 || data), interior nodes as
SHA-256(0x01 || left || right), and the tree hash MTH splits n > 1 leaves at the largest power of two smaller
than n. The empty tree hashes to SHA-256 of nothing.

Two ways to get roots and proofs:

- the functions `root`, `inclusion_proof` and `consistency_proof` take a sequence of leaf hashes and cost O(n)
  hashes per call (no recursion deeper than the tree's height, so a million leaves are fine);
- `MerkleTree` keeps the hash of every complete subtree as leaves are appended, so that a root or a proof at
  any size up to the current one costs O(log n) hashes.

`verify_inclusion` and `verify_consistency` follow the RFC's verification algorithms (2.1.3.2 and 2.1.4.2) and
raise `ProofError` saying what did not match; they return None when the proof holds.

A consistency proof needs 0 < old size: a proof from the empty tree proves nothing, so it is refused both ways
(RFC 9162 2.1.4 defines proofs only for 0 < m < n, plus the trivial m == n; the transparency-dev/merkle
conformance vectors also fail every case with size1 == 0, including 0 == 0).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
"""Bytes in every hash of the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}): the hash of the tree with no leaves."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

SubtreeHash = Callable[[int, int], bytes]
"""MTH(D[lo:hi]) for a node [lo, hi) of the tree; how the proof builders read the tree."""


class ProofError(ValueError):
    """A proof failed to verify (or its sizes, index or hashes are malformed)."""


# Hashes ---------------------------------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf holding `data`: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): where MTH splits n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _fold(subtrees: Sequence[bytes]) -> bytes:
    """The hash of perfect subtrees of strictly decreasing sizes, left to right, joined as MTH joins them.

    MTH of n leaves is the hash of the perfect subtrees given by the binary digits of n, combined from the
    right: MTH(8 + 4 + 1 leaves) = node(T8, node(T4, T1)).
    """
    if not subtrees:
        return EMPTY_ROOT
    acc = subtrees[-1]
    for left in reversed(subtrees[:-1]):
        acc = node_hash(left, acc)
    return acc


# Roots from a sequence of leaf hashes --------------------------------------------------------------------------


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) (RFC 9162 2.1.1) of the leaves with these hashes; EMPTY_ROOT for none.

    Computed bottom-up without recursion: O(n) hashes, O(log n) memory.
    """
    return _range_root(leaf_hashes, 0, len(leaf_hashes))


def _range_root(leaf_hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) without copying the slice.

    Keeps a stack of the perfect subtrees seen so far (at most one per size), merging the two last whenever
    they are the same size, then folds the stack.
    """
    stack: list[bytes] = []
    for count, i in enumerate(range(lo, hi), start=1):
        node = leaf_hashes[i]
        while count & 1 == 0:  # one merge per trailing zero bit of the count
            node = node_hash(stack.pop(), node)
            count >>= 1
        stack.append(node)
    return _fold(stack)


# Proofs, over any way of reading subtree hashes ----------------------------------------------------------------


def _inclusion_path(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 2.1.3.1), unrolled: the siblings on the way down, returned leaf first."""
    siblings: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            siblings.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            siblings.append(subtree(lo, lo + k))
            lo += k
    siblings.reverse()
    return siblings


def _consistency_path(old_size: int, new_size: int, subtree: SubtreeHash) -> list[bytes]:
    """SUBPROOF(old_size, D[0:new_size], true) (RFC 9162 2.1.4.1), unrolled (0 < old_size <= new_size).

    Descends towards the node that covers exactly the first old_size leaves of its range, collecting the
    sibling taken at each split; the node itself leads the proof unless it is a subtree of the old tree the
    verifier already knows the hash of (the old tree itself).
    """
    siblings: list[bytes] = []
    lo, hi, m, known = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            siblings.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            siblings.append(subtree(lo, lo + k))
            lo, m, known = lo + k, m - k, False
    proof = [] if known else [subtree(lo, hi)]
    proof.extend(reversed(siblings))
    return proof


def _tree_size(available: int, size: int | None) -> int:
    """The size a proof is asked for: `size`, or every leaf there is."""
    if size is None:
        return available
    if not 0 <= size <= available:
        raise ValueError(f"tree size {size} is outside 0..{available} (the leaves there are)")
    return size


def _check_inclusion_args(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")


def _check_consistency_args(old_size: int, new_size: int) -> None:
    if old_size <= 0:
        raise ValueError(f"old size {old_size}: a consistency proof needs a non-empty old tree")
    if old_size > new_size:
        raise ValueError(f"old size {old_size} is larger than new size {new_size}")


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    """The audit path of leaf `index` in the tree of the first `size` leaves (all of them by default).

    RFC 9162 2.1.3.1; ordered from the leaf's sibling up to the root's child. O(size) hashes.
    """
    n = _tree_size(len(leaf_hashes), size)
    _check_inclusion_args(index, n)
    return _inclusion_path(index, n, lambda lo, hi: _range_root(leaf_hashes, lo, hi))


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int | None = None) -> list[bytes]:
    """The proof that the tree of the first `old_size` leaves is a prefix of the tree of `new_size` leaves.

    RFC 9162 2.1.4.1 (new_size defaults to every leaf there is; empty when the sizes are equal). O(new_size)
    hashes. Raises ValueError unless 0 < old_size <= new_size <= len(leaf_hashes).
    """
    n = _tree_size(len(leaf_hashes), new_size)
    _check_consistency_args(old_size, n)
    return _consistency_path(old_size, n, lambda lo, hi: _range_root(leaf_hashes, lo, hi))


# Verification ---------------------------------------------------------------------------------------------------


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, a hash is {HASH_SIZE}")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for position, value in enumerate(proof):
        _check_hash(f"proof hash {position}", value)


def _inclusion_proof_length(index: int, size: int) -> int:
    """How many hashes PATH(index, D[size]) has: the levels below where the paths to `index` and to the last
    leaf part, plus one per left sibling above that point."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_proof_length(old_size: int, new_size: int) -> int:
    """How many hashes SUBPROOF(old_size, D[new_size], true) has (0 < old_size < new_size).

    It is the inclusion proof of the last old leaf, less the levels inside the largest perfect subtree that
    ends at old_size, plus that subtree's own hash unless it is the whole old tree.
    """
    inner = ((old_size - 1) ^ (new_size - 1)).bit_length()
    border = ((old_size - 1) >> inner).bit_count()
    shift = (old_size & -old_size).bit_length() - 1  # trailing zero bits of old_size
    seed = 0 if _is_power_of_two(old_size) else 1
    return seed + inner - shift + border


def _shift_while_even(fn: int, sn: int) -> tuple[int, int]:
    """Right-shift fn and sn together until fn is odd or zero."""
    while fn and not fn & 1:
        fn >>= 1
        sn >>= 1
    return fn, sn


def _root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.3.2 steps 2 to 5: the root the audit path leads to."""
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof goes on past the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_while_even(fn, sn)
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof stops short of the root")
    return r


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that the leaf with hash `leaf_hash` is at `index` in the tree of `size` leaves whose hash is `root`.

    RFC 9162 2.1.3.2. Raises ProofError when the index is outside the tree, a hash is not 32 bytes, the proof
    has the wrong number of hashes, or it leads to another root.
    """
    if size < 0 or index < 0:
        raise ProofError(f"negative tree size {size} or leaf index {index}")
    if index >= size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash("leaf hash", leaf_hash)
    _check_hash("root", root)
    _check_proof_hashes(proof)
    want = _inclusion_proof_length(index, size)
    if len(proof) != want:
        raise ProofError(f"inclusion proof has {len(proof)} hashes; leaf {index} of a tree of size {size} needs {want}")
    if _root_from_inclusion(leaf_hash, index, size, proof) != root:
        raise ProofError(f"inclusion proof of leaf {index} does not lead to the root of the tree of size {size}")


def _roots_from_consistency(
    old_size: int, new_size: int, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """RFC 9162 2.1.4.2 steps 2 to 7: the old and new roots the proof leads to (0 < old_size < new_size)."""
    path = [old_root, *proof] if _is_power_of_two(old_size) else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof goes on past the new root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            fn, sn = _shift_while_even(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof stops short of the new root")
    return fr, sr


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of `old_size` leaves with hash `old_root` is a prefix of the one of `new_size` leaves.

    RFC 9162 2.1.4.2. Equal sizes need an empty proof and equal roots; an old size of 0 is refused (a proof
    from the empty tree proves nothing); otherwise the proof must rebuild both roots. Raises ProofError saying
    which check failed.
    """
    if old_size < 0 or new_size < 0:
        raise ProofError(f"negative tree size ({old_size}, {new_size})")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}: a log cannot shrink")
    if old_size == 0:
        raise ProofError("consistency from the empty tree proves nothing (RFC 9162 needs 0 < old size)")
    if old_size == new_size:
        if proof:
            raise ProofError(f"sizes are equal ({old_size}) but the proof is not empty ({len(proof)} hashes)")
        if old_root != new_root:
            raise ProofError(f"sizes are equal ({old_size}) but the roots differ")
        return
    if not proof:
        raise ProofError(f"consistency proof from size {old_size} to {new_size} is empty")
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    _check_proof_hashes(proof)
    want = _consistency_proof_length(old_size, new_size)
    if len(proof) != want:
        raise ProofError(
            f"consistency proof has {len(proof)} hashes; from size {old_size} to {new_size} it needs {want}"
        )
    computed_old, computed_new = _roots_from_consistency(old_size, new_size, old_root, proof)
    if computed_old != old_root:
        raise ProofError(f"consistency proof does not lead to the old root (size {old_size})")
    if computed_new != new_root:
        raise ProofError(f"consistency proof does not lead to the new root (size {new_size})")


# An append-only tree with cached subtree hashes ----------------------------------------------------------------


class MerkleTree:
    """An append-only RFC 9162 tree that keeps the hash of every complete (perfect) subtree.

    Level h holds the hashes of the perfect subtrees of 2**h leaves, left to right, packed into one bytearray
    (about 64 bytes a leaf in all). Appending costs one hash amortized; the root, an inclusion proof or a
    consistency proof at any size up to the current one costs O(log n) hashes, since every node of an RFC 9162
    tree is a perfect subtree or is folded from at most log n of them.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        """A tree of these leaf hashes (none by default)."""
        self._levels: list[bytearray] = [bytearray()]
        for value in leaf_hashes:
            self.append(value)

    def __len__(self) -> int:
        """How many leaves the tree has."""
        return len(self._levels[0]) // HASH_SIZE

    def append(self, leaf_hash: bytes) -> int:
        """Add a leaf (by its hash, see `leaf_hash`) and return its index."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, not {len(leaf_hash)}")
        index = len(self)
        node, level, position = bytes(leaf_hash), 0, index
        while True:
            if level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[level] += node
            if not position & 1:  # a left child: its parent is not complete yet
                return index
            node = node_hash(self._node(level, position - 1), node)
            level, position = level + 1, position >> 1

    def _node(self, level: int, position: int) -> bytes:
        """The hash of the perfect subtree of 2**level leaves starting at leaf position * 2**level."""
        start = position * HASH_SIZE
        return bytes(self._levels[level][start : start + HASH_SIZE])

    def _subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a node of an RFC 9162 tree (lo is a multiple of the largest power of two <= hi - lo,
        which holds for every node), folded from the perfect subtrees given by the binary digits of hi - lo."""
        pieces: list[bytes] = []
        width = hi - lo
        for level in reversed(range(width.bit_length())):
            if width >> level & 1:
                pieces.append(self._node(level, lo >> level))
                lo += 1 << level
        return _fold(pieces)

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (all by default)."""
        return self._subtree(0, _tree_size(len(self), size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf `index` in the tree of the first `size` leaves (all by default)."""
        n = _tree_size(len(self), size)
        _check_inclusion_args(index, n)
        return _inclusion_path(index, n, self._subtree)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The proof that the tree of `old_size` leaves is a prefix of the one of `new_size` (all by default)."""
        n = _tree_size(len(self), new_size)
        _check_consistency_args(old_size, n)
        return _consistency_path(old_size, n, self._subtree)
