"""Porchlight hub: consent-gated live video over WHIP/WHEP."""
