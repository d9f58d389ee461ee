"""pytest integration (entry point ``pytest11: certify``)."""
