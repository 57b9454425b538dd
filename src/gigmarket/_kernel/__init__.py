"""The kernel every service stands on: what is not a domain of its own.

Today it holds the command runner (:mod:`gigmarket._kernel.runner`); the
scoped idempotency keys and the bounded retries it uses are
:mod:`gigmarket.idempotency` and :mod:`gigmarket.retry`.
"""
