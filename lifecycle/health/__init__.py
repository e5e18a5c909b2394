"""The e-mail health check: list quality (:mod:`lifecycle.health.addresses`)."""

from lifecycle.health.addresses import ACTIONS, FLAGS, check_list, counts

__all__ = ["ACTIONS", "FLAGS", "check_list", "counts"]
