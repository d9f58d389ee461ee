"""Signing: in-toto Statements in DSSE envelopes (see issue: signed certificate)."""
