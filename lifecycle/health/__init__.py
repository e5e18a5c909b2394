"""The e-mail health check: list quality (:mod:`lifecycle.health.addresses`) and a sample
message's authentication, unsubscribe headers, rendering on devices and content
(:mod:`lifecycle.health.message`), and the sender's DNS records and block lists
(:mod:`lifecycle.health.sender`), combined into one scored report
(:mod:`lifecycle.health.report`)."""

from lifecycle.health.addresses import ACTIONS, FLAGS, check_list, counts
from lifecycle.health.message import check_message
from lifecycle.health.report import Report, report
from lifecycle.health.sender import check_sender, dns_resolver

__all__ = ["ACTIONS", "FLAGS", "Report", "check_list", "check_message", "check_sender",
           "counts", "dns_resolver", "report"]
