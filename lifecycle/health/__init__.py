"""The e-mail health check: list quality (:mod:`lifecycle.health.addresses`) and a sample
message's authentication, unsubscribe headers, rendering on devices and content
(:mod:`lifecycle.health.message`)."""

from lifecycle.health.addresses import ACTIONS, FLAGS, check_list, counts
from lifecycle.health.message import check_message

__all__ = ["ACTIONS", "FLAGS", "check_list", "check_message", "counts"]
