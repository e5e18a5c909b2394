"""Campaign results: message KPIs and open reach (:mod:`~lifecycle.kpis.messages`)."""

from lifecycle.kpis.messages import message_kpis, open_reach

__all__ = ["message_kpis", "open_reach"]
