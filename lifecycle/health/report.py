"""The health check as one scored report: a score per area, the findings with their
evidence, and the addresses to clean.

Scores, 0 to 100:

- **list quality**: the addresses present (missing ones aside) that can be kept as they
  are, with those to fix counting half: ``100 * (keep + fix / 2) / present``;
- **deliverability**, **devices** and **content**: the share of that area's checks that
  passed, of those that could be checked (a check the input cannot tell, ``passed`` None,
  counts neither way). An area with nothing checked has no score.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lifecycle._files import write_text
from lifecycle.formats import count, percent
from lifecycle.health.addresses import FLAGS, counts

AREAS = ("list quality", "deliverability", "devices", "content")
AREA_TITLES = {"list quality": "List quality", "deliverability": "Deliverability",
           "devices": "Works on devices", "content": "Content"}
_ACRONYMS = {"spf": "SPF", "dkim": "DKIM", "dmarc": "DMARC", "html": "HTML", "one": "One-",
             "click": "click"}


def score_text(score) -> str:
    """A score as the report shows it: ``"82 / 100"``, or ``"not checked"``."""
    return "not checked" if pd.isna(score) else f"{score:.0f} / 100"


def reasons(row) -> str:
    """Why an address is to be fixed or suppressed: its flags, in words."""
    return ", ".join(label(f).lower() for f in FLAGS if row[f]) or "stored differently"


def label(name: str) -> str:
    """A check's or flag's name as people write it: ``dmarc_alignment`` -> DMARC alignment.

    >>> [label(n) for n in ("spf_lookups", "one_click_unsubscribe", "typo_domain")]
    ['SPF lookups', 'One-click unsubscribe', 'Typo domain']
    """
    words = [_ACRONYMS.get(w, w) for w in name.split("_")]
    text = " ".join(words).replace("One- ", "One-")
    return text[0].upper() + text[1:]


@dataclass
class Report:
    """``scores`` (``area``, ``score``, ``passed``, ``checked``), ``findings`` (``area``,
    ``check``, ``passed``, ``evidence``, and ``source``: which message or domain),
    ``addresses`` (the rows of :func:`~lifecycle.health.check_list` to fix or suppress)
    and ``counts`` (per flag and action)."""

    scores: pd.DataFrame
    findings: pd.DataFrame
    addresses: pd.DataFrame | None
    counts: pd.DataFrame | None

    def to_html(self, title: str = "E-mail health check") -> str:
        """The report as one self-contained HTML page (no script, no outside request)."""
        return _page(self, title)

    def write_html(self, path, title: str = "E-mail health check") -> Path:
        """Write :meth:`to_html` to ``path`` atomically; return the path."""
        return write_text(Path(path), self.to_html(title))


def report(addresses: pd.DataFrame | None = None, *, messages=None,
           sender: pd.DataFrame | None = None) -> Report:
    """Combine the checks into one scored :class:`Report`.

    Parameters
    ----------
    addresses : pandas.DataFrame, optional
        The result of :func:`~lifecycle.health.check_list`.
    messages : pandas.DataFrame or dict of them, optional
        :func:`~lifecycle.health.check_message` findings, one frame or ``{name: frame}``.
    sender : pandas.DataFrame, optional
        :func:`~lifecycle.health.check_sender` findings.

    Examples
    --------
    >>> from lifecycle.health import check_list, check_sender
    >>> r = report(check_list(pd.Series(["ann@example.com", "ANN@example.com",
    ...                                  "bob@Example.com", "info@example.com"])),
    ...            sender=check_sender("example.com", dmarc="v=DMARC1; p=none"))
    >>> r.scores
                 area  score  passed  checked
    0    list quality  37.50     NaN      4.0
    1  deliverability  33.33     1.0      3.0
    2         devices    NaN     0.0      0.0
    3         content    NaN     0.0      0.0
    """
    frames = []
    if isinstance(messages, pd.DataFrame):
        messages = {"message": messages}
    for name, found in (messages or {}).items():
        frames.append(found.assign(source=name))
    if sender is not None:
        frames.append(sender.assign(source="sender"))
    findings = (pd.concat(frames, ignore_index=True) if frames
                else pd.DataFrame(columns=["area", "check", "passed", "evidence", "source"]))
    rows = []
    for area in AREAS:
        if area == "list quality":
            rows.append(_list_score(addresses))
            continue
        mine = findings[findings.area == area]
        checked = mine.passed.notna()
        passed = int((mine.passed[checked] == True).sum())  # noqa: E712 (object column)
        n = int(checked.sum())
        rows.append({"area": area, "score": round(100 * passed / n, 2) if n else None,
                     "passed": float(passed), "checked": float(n)})
    to_clean = None
    if addresses is not None:
        to_clean = addresses[addresses.action != "keep"].reset_index(drop=True)
    return Report(scores=pd.DataFrame(rows).astype({"score": float}), findings=findings,
                  addresses=to_clean, counts=counts(addresses) if addresses is not None
                  else None)


def _list_score(addresses) -> dict:
    if addresses is None:
        return {"area": "list quality", "score": None, "passed": 0.0, "checked": 0.0}
    present = addresses[~addresses.missing]
    n = len(present)
    good = (present.action == "keep").sum() + 0.5 * (present.action == "fix").sum()
    return {"area": "list quality", "score": round(100 * good / n, 2) if n else None,
            "passed": None, "checked": float(n)}


# -- the page ---------------------------------------------------------------------------------
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#1f2933;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #d9e2ec;border-radius:8px;padding:1rem 1.2rem;min-width:200px}
.card .score{font-size:2rem;font-weight:600}.card .sub{color:#52606d;font-size:.85rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{background:#f5f7fa}.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37}.fail{color:#c62828;font-weight:600}.na{color:#7b8794}
"""


def _page(r: Report, title: str) -> str:
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>", "<div class='cards'>"]
    for row in r.scores.itertuples():
        score = score_text(row.score)
        sub = (f"{count(row.checked)} addresses" if row.area == "list quality"
               else f"{count(row.passed)} of {count(row.checked)} checks passed")
        parts.append(f"<div class='card' data-area='{row.area}'><div>{AREA_TITLES[row.area]}</div>"
                     f"<div class='score'>{score}</div><div class='sub'>{sub}</div></div>")
    parts.append("</div>")
    if r.counts is not None:
        parts.append("<h2>List quality</h2><table><tr><th>Flag or action</th>"
                     "<th class='num'>Addresses</th><th class='num'>Share</th></tr>")
        for name, row in r.counts.iterrows():
            parts.append(f"<tr><td>{label(name)}</td>"
                         f"<td class='num'>{count(row['count'])}</td>"
                         f"<td class='num'>{percent(row['share'])}</td></tr>")
        parts.append("</table>")
    for area in AREAS[1:]:
        mine = r.findings[r.findings.area == area]
        if not len(mine):
            continue
        parts.append(f"<h2>{AREA_TITLES[area]}</h2><table><tr><th>Where</th><th>Check</th>"
                     "<th>Result</th><th>Evidence</th></tr>")
        for row in mine.itertuples():
            mark = ("<span class='na'>not checked</span>" if row.passed is None else
                    "<span class='pass'>passed</span>" if row.passed else
                    "<span class='fail'>failed</span>")
            parts.append(f"<tr><td>{html.escape(str(row.source))}</td>"
                         f"<td>{label(row.check)}</td><td>{mark}</td>"
                         f"<td>{html.escape(str(row.evidence))}</td></tr>")
        parts.append("</table>")
    if r.addresses is not None:
        shown = r.addresses.head(500)
        parts.append(f"<h2>Addresses to clean ({count(len(r.addresses))})</h2>")
        if len(r.addresses) > len(shown):
            parts.append(f"<p>The first {count(len(shown))}; the whole list is in the "
                         "report's addresses table.</p>")
        parts.append("<table><tr><th>E-mail</th><th>Action</th><th>Why</th>"
                     "<th>Suggestion</th></tr>")
        for _, row in shown.iterrows():
            parts.append(f"<tr><td>{html.escape(str(row.email))}</td><td>{row.action}</td>"
                         f"<td>{reasons(row)}</td><td>{html.escape(row.suggestion or '')}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)
