"""Built-in certification suites (installed as ``certify.suites``).

Each module declares one :class:`certify.suite.Suite` and imports its heavy libraries
only inside ``run``.
"""
