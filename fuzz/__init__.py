"""Fuzzing the hub's offer handling: mutated SDP offers at WHIP and WHEP against a real hub process.

`fuzz.offers` makes the cases (hypothesis strategies over real aiortc offers), `fuzz.harness` sends them and
judges the answers, `python -m fuzz --cases N` runs a long campaign; tests/test_fuzz_offers.py runs a short one.
"""
