"""The hybrid deploy step: a certificate that passes the gate drives promotion and rollout.

``certify deploy run PLAN --certificate CERT --trust DIR`` starts with the same code as
``certify gate`` (:mod:`certify.attest.gate`), then registers the certified file unchanged in the
MLflow Model Registry, rolls it out on each target of the plan through canary steps with live
analysis, and promotes it or rolls it back. Every action goes into an append-only, hash-chained
audit log anchored in the registry.

Modules, one job each:

* :mod:`.plan` (``deploy.toml``), :mod:`.residency` (who may receive which data class),
  :mod:`.plandoc` (the plan reference);
* :mod:`.admission` (the gate, the registered file's digest, downgrade and replay);
* :mod:`.registry` (MLflow: versions, tags, aliases, the audit anchor), :mod:`.audit` (the log,
  its verification and signed checkpoints), :mod:`.locks` (one lock per target),
  :mod:`.journal` (the rollout in progress, for status and recovery), :mod:`.context` (what one
  command shares);
* :mod:`.traffic` (bounded analysis traffic through the ingress), :mod:`.analysis` (candidate vs
  champion: interval-based comparison, absolute SLOs), :mod:`.parity` (served vs certified
  outputs), :mod:`.scoring` (one request scored, shared by the servers);
* :mod:`.targets` (the interface in :mod:`.targets.base`; ``ray_serve`` on-prem with its
  embedded cluster, Serve application and weighted ingress; ``kserve`` in the cloud with the
  vendored CRD), :mod:`.predictor` (the custom KServe predictor);
* :mod:`.rollout` (run: gate, register, canary, promote or roll back) and :mod:`.operations`
  (status, rollback, adopt, stop): what the CLI calls; :mod:`.demostep` (the demo's deploy step).
"""
