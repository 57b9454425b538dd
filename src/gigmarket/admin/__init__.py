"""The operators' tools: the ``gigmarket`` command, the demo, the store audit.

Everything here sits above :mod:`gigmarket.marketplace` and the storage
adapters: it opens stores from URLs, runs the jobs a scheduler calls, and
prints. Nothing in the library imports it, so a host that embeds gigmarket
never pays for it.
"""

__all__: list[str] = []
