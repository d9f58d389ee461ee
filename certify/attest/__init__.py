"""Signing and verification: in-toto Statements in DSSE envelopes, keys, the release gate.

* :mod:`certify.attest.statement`: the Statement v1 and our predicate
  (``https://pytest-certify.dev/certification/v0.2``), built from report.json;
* :mod:`certify.attest.dsse`: the pre-authentication encoding, the envelope, a strict parser;
* :mod:`certify.attest.keys`: key generation, loading, ``SHA256:`` fingerprints, the 0600 rule;
* :mod:`certify.attest.signer`: the ``Signer`` interface (file and environment keys; a KMS
  signer implements the same three members);
* :mod:`certify.attest.verify`: ``verify()`` -> ``VerifiedCertificate`` or ``VerificationError``;
* :mod:`certify.attest.gate`: ``gate()``, verify plus the promotion decision;
* :mod:`certify.attest.revocation`: the revocation list;
* :mod:`certify.attest.issue`: a run's statement and certificate, with its signature status;
* :mod:`certify.attest.status`: the signature status of a run folder, by verifying it.

Nothing is imported here, so that importing the package stays cheap.
"""
