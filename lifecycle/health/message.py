"""A sample message's checks: how it authenticates, how it unsubscribes, how it shows on a
phone, and what it says.

:func:`check_message` reads a raw RFC 5322 message (the ``.eml`` a mail client saves) and
returns one row per check: ``area``, ``check``, ``passed`` (True, False, or None when the
message cannot tell) and ``evidence``. The rules:

============== ===================== ====================================================
area           check                 passes when
============== ===================== ====================================================
deliverability spf, dkim, dmarc      the receiver's ``Authentication-Results`` (RFC 8601)
                                     says ``pass`` for one of its results (None without
                                     that header)
deliverability dmarc_alignment       the From domain's organisational domain (public suffix
                                     list) is that of a passing DKIM ``header.d`` or SPF
                                     ``smtp.mailfrom`` (relaxed alignment)
deliverability list_unsubscribe      a ``List-Unsubscribe`` header with an https or mailto
                                     address
deliverability one_click_unsubscribe ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``
                                     with an https address (RFC 8058), and, when the message
                                     is signed, a DKIM signature that covers both headers
devices        viewport              ``<meta name="viewport" content="width=device-width...">``
devices        content_width         no width above 650 px (attribute or CSS ``width``)
devices        image_alt_text        every image has a non-empty ``alt``
devices        image_dimensions      every image has ``width`` and ``height``
devices        html_size             the HTML is at most 102 KB (larger is clipped by Gmail)
devices        text_part             a ``text/plain`` alternative
content        subject_length        a subject of 1 to 60 characters
content        preheader             hidden preview text before the visible content
content        unsubscribe_link      a link in the body to unsubscribe
content        text_image_balance    at least 500 characters of text, and 100 or more per
                                     image
content        links                 every link is a well-formed http(s), mailto or tel
                                     address, and none through a URL shortener
content        no_scripts_or_forms   no script, form, iframe, object, embed, ``on...``
                                     handler or ``javascript:`` address
============== ===================== ====================================================
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from functools import cache
from urllib.parse import urlsplit

import pandas as pd

CLIP_BYTES = 102 * 1024
MAX_WIDTH_PX = 650
SUBJECT_CHARACTERS = 60
TEXT_CHARACTERS, TEXT_PER_IMAGE = 500, 100
SHORTENERS = frozenset("""
bit.ly buff.ly cutt.ly goo.gl is.gd ow.ly rebrand.ly shorturl.at t.co t.ly tiny.cc
tinyurl.com rb.gy lnkd.in
""".split())
_UNSUBSCRIBE_WORDS = ("unsubscribe", "opt-out", "opt out", "optout", "peruuta", "avregistrera",
                      "afmeld", "avmeld", "abbestellen", "désinscri", "desinscri")
_COLUMNS = ["area", "check", "passed", "evidence"]


def check_message(raw: bytes | str) -> pd.DataFrame:
    """The findings of one raw message (see the module docstring for each rule).

    Examples
    --------
    >>> raw = (b"From: Shop <news@shop.example.com>\\r\\nSubject: Autumn offers\\r\\n"
    ...        b"Authentication-Results: mx.example.net; spf=pass "
    ...        b"smtp.mailfrom=bounce.example.com; dkim=fail header.d=example.com; "
    ...        b"dmarc=pass header.from=shop.example.com\\r\\n\\r\\nHello")
    >>> findings = check_message(raw).set_index("check")
    >>> findings.passed[["spf", "dkim", "dmarc_alignment", "one_click_unsubscribe"]].tolist()
    [True, False, True, False]
    >>> findings.evidence["dmarc_alignment"]
    'From example.com (organisational); aligned: spf bounce.example.com'
    """
    message = email.message_from_bytes(raw.encode() if isinstance(raw, str) else raw,
                                       policy=email.policy.default)
    html, text = _bodies(message)
    soup = _soup(html) if html is not None else None
    rows = [*_authentication(message), *_unsubscribe_headers(message)]
    rows += _devices(soup, html, text)
    rows += _content(message, soup)  # last: it takes the non-text tags out of the tree
    return pd.DataFrame(rows, columns=_COLUMNS)


def _bodies(message) -> tuple[str | None, str | None]:
    html = message.get_body(preferencelist=("html",))
    text = message.get_body(preferencelist=("plain",))
    return (html.get_content() if html is not None else None,
            text.get_content() if text is not None else None)


# -- deliverability -----------------------------------------------------------------------
def authentication_results(message) -> dict[str, list[tuple[str, dict[str, str]]]]:
    """``{method: [(result, {property: value})]}`` from every ``Authentication-Results``
    header (RFC 8601; comments in parentheses dropped).

    >>> m = email.message_from_string("Authentication-Results: mx.example.net (v1); "
    ...     "dkim=pass (good) header.d=example.com header.s=s1; spf=softfail")
    >>> authentication_results(m)
    {'dkim': [('pass', {'header.d': 'example.com', 'header.s': 's1'})], 'spf': [('softfail', {})]}
    """
    out: dict[str, list] = {}
    for header in message.get_all("Authentication-Results") or []:
        text = re.sub(r"\([^()]*\)", " ", str(header))
        for part in text.split(";")[1:]:
            words = part.split()
            if not words or "=" not in words[0]:
                continue
            method, _, result = words[0].partition("=")
            props = dict(w.split("=", 1) for w in words[1:] if "=" in w)
            out.setdefault(method.lower(), []).append((result.lower(), props))
    return out


def organisational_domain(domain: str | None) -> str | None:
    """The domain an organisation registered (public suffix list, bundled: no download).

    >>> organisational_domain("news.mail.shop.co.uk"), organisational_domain("shop.example.com")
    ('shop.co.uk', 'example.com')
    """
    if not domain:
        return None
    domain = domain.strip().strip(".").lower().rsplit("@", 1)[-1]
    return _suffixes().privatesuffix(domain) or domain


@cache
def _suffixes():
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def _authentication(message) -> list[tuple]:
    results = authentication_results(message)
    rows = []
    for method, key in (("spf", "smtp.mailfrom"), ("dkim", "header.d"), ("dmarc", "header.from")):
        found = results.get(method)
        if not found:
            rows.append(("deliverability", method, None,
                         "no Authentication-Results for it: send the sample through a "
                         "mailbox and save what arrived"))
            continue
        result, props = next((r for r in found if r[0] == "pass"), found[0])  # any pass
        where = props.get(key) or props.get("header.i", "")
        rows.append(("deliverability", method, result == "pass",
                     f"{method}={result}" + (f" ({where.lstrip('@')})" if where else "")))
    sender = email.utils.parseaddr(str(message.get("From", "")))[1]
    org = organisational_domain(sender.rpartition("@")[2] if "@" in sender else None)
    if org is None:
        rows.append(("deliverability", "dmarc_alignment", False, "no From address"))
    elif not results:
        rows.append(("deliverability", "dmarc_alignment", None, "no Authentication-Results"))
    else:
        aligned = [f"{m} {d}" for m, key in (("dkim", "header.d"), ("spf", "smtp.mailfrom"))
                   for result, props in results.get(m, []) if result == "pass"
                   for d in [props.get(key, "").lstrip("@")] if organisational_domain(d) == org]
        rows.append(("deliverability", "dmarc_alignment", bool(aligned),
                     f"From {org} (organisational); " + (
                         f"aligned: {', '.join(aligned)}" if aligned
                         else "no passing DKIM or SPF domain of the same organisation")))
    return rows


def _unsubscribe_headers(message) -> list[tuple]:
    header = str(message.get("List-Unsubscribe", "") or "")
    targets = re.findall(r"<([^>]+)>", header)
    https = [t for t in targets if t.lower().startswith("https://")]
    usable = https + [t for t in targets if t.lower().startswith("mailto:")]
    rows = [("deliverability", "list_unsubscribe", bool(usable),
             f"List-Unsubscribe: {header}" if header else "no List-Unsubscribe header")]
    post = str(message.get("List-Unsubscribe-Post", "") or "").strip()
    problems = []
    if post.replace(" ", "").lower() != "list-unsubscribe=one-click":
        problems.append("no List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    if not https:
        problems.append("no https address in List-Unsubscribe")
    covered = []
    for signature in message.get_all("DKIM-Signature") or []:
        signed = re.search(r"\bh=([^;]+)", re.sub(r"\s+", "", str(signature)))
        names = {h.lower() for h in signed.group(1).split(":")} if signed else set()
        covered.append({"list-unsubscribe", "list-unsubscribe-post"} <= names)
    if covered and not any(covered):
        problems.append("no DKIM signature covers both List-Unsubscribe headers")
    rows.append(("deliverability", "one_click_unsubscribe", not problems,
                 "; ".join(problems) or f"One-Click to {https[0]}"))
    return rows


# -- devices and content ------------------------------------------------------------------
def _soup(html: str):
    from bs4 import BeautifulSoup

    return BeautifulSoup(html, "lxml")


def _px(value: str | None) -> float | None:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(px)?\s*", value or "")
    return float(match.group(1)) if match else None


def _devices(soup, html: str | None, text: str | None) -> list[tuple]:
    rows = []
    if soup is None:
        rows += [("devices", c, None, "no HTML part") for c in
                 ("viewport", "content_width", "image_alt_text", "image_dimensions",
                  "html_size")]
    else:
        viewport = soup.find("meta", attrs={"name": re.compile("^viewport$", re.I)})
        content = (viewport.get("content") or "") if viewport else ""
        rows.append(("devices", "viewport", "width=device-width" in content.replace(" ", ""),
                     f'meta viewport "{content}"' if viewport else "no meta viewport"))
        wide = []
        for tag in soup.find_all(True):
            widths = [_px(tag.get("width"))]
            widths += [_px(w) for w in re.findall(r"(?<![-\w])width\s*:\s*([^;]+)",
                                                  tag.get("style") or "")]
            wide += [f"<{tag.name}> {w:g}px" for w in widths if w and w > MAX_WIDTH_PX]
        rows.append(("devices", "content_width", not wide,
                     ", ".join(wide[:5]) or f"no width above {MAX_WIDTH_PX} px"))
        images = soup.find_all("img")
        no_alt = [i.get("src", "?") for i in images if not (i.get("alt") or "").strip()]
        rows.append(("devices", "image_alt_text", not no_alt,
                     f"{len(no_alt)} of {len(images)} images without alt text: "
                     f"{', '.join(no_alt[:3])}" if no_alt else f"{len(images)} images, all with alt text"))
        no_size = [i.get("src", "?") for i in images
                   if i.get("width") is None or i.get("height") is None]
        rows.append(("devices", "image_dimensions", not no_size,
                     f"{len(no_size)} of {len(images)} images without width and height: "
                     f"{', '.join(no_size[:3])}" if no_size else
                     f"{len(images)} images, all with width and height"))
        size = len(html.encode())
        rows.append(("devices", "html_size", size <= CLIP_BYTES,
                     f"{size / 1024:.1f} KB of HTML (clipped above {CLIP_BYTES // 1024} KB)"))
    rows.append(("devices", "text_part", text is not None,
                 "a text/plain part" if text is not None else "no text/plain part"))
    return rows


def _content(message, soup) -> list[tuple]:
    subject = str(message.get("Subject", "") or "").strip()
    rows = [("content", "subject_length", 0 < len(subject) <= SUBJECT_CHARACTERS,
             f'{len(subject)} characters: "{subject}"' if subject else "no subject")]
    if soup is None:
        return rows + [("content", c, None, "no HTML part") for c in
                       ("preheader", "unsubscribe_link", "text_image_balance", "links",
                        "no_scripts_or_forms")]
    body = soup.body or soup
    rows.append(("content", "preheader", *_preheader(body)))
    links = body.find_all("a")
    unsubscribe = [a.get("href", "") for a in links if any(
        w in (a.get_text(" ") + " " + a.get("href", "")).lower() for w in _UNSUBSCRIBE_WORDS)]
    rows.append(("content", "unsubscribe_link", bool(unsubscribe),
                 f"link to {unsubscribe[0]}" if unsubscribe else "no unsubscribe link"))
    active = sorted({t.name for t in soup.find_all(["script", "form", "iframe", "object",
                                                     "embed"])})
    active += sorted({f"{t.name}[{a}]" for t in soup.find_all(True) for a in t.attrs
                      if a.lower().startswith("on")})
    active += ["javascript: link" for a in soup.find_all(href=True)
               if a["href"].strip().lower().startswith("javascript:")][:1]
    for hidden in body.find_all(["script", "style", "head"]):
        hidden.extract()  # not text a reader sees
    words = len(re.sub(r"\s+", " ", body.get_text(" ")).strip())
    images = len(body.find_all("img"))
    balanced = words >= TEXT_CHARACTERS and words >= TEXT_PER_IMAGE * images
    rows.append(("content", "text_image_balance", balanced,
                 f"{words} characters of text, {images} images"))
    bad = []
    for a in links:
        href = (a.get("href") or "").strip()
        try:
            parts = urlsplit(href)
            host = parts.hostname
        except ValueError:  # e.g. an unclosed [IPv6] host
            bad.append(f"malformed: {href}")
            continue
        if parts.scheme in ("http", "https") and host:
            if host.lower().removeprefix("www.") in SHORTENERS:
                bad.append(f"shortened: {href}")
        elif parts.scheme not in ("mailto", "tel") or not parts.path:
            bad.append(f"malformed: {href or '(empty)'}")
    rows.append(("content", "links", not bad,
                 "; ".join(bad[:5]) or f"{len(links)} links, all well-formed"))
    rows.append(("content", "no_scripts_or_forms", not active,
                 ", ".join(active) or "no script, form or embedded content"))
    return rows


def _preheader(body) -> tuple[bool, str]:
    """Hidden preview text before the visible content, or an element named preheader."""
    hidden = re.compile(r"display\s*:\s*none|max-height\s*:\s*0|opacity\s*:\s*0|"
                        r"visibility\s*:\s*hidden|font-size\s*:\s*0", re.I)
    named = body.find(attrs={"class": re.compile("preheader", re.I)}) or body.find(
        id=re.compile("preheader", re.I))
    for tag in body.find_all(True):
        if tag.get_text(strip=True):
            if hidden.search(tag.get("style") or "") or tag is named:
                return True, f'"{tag.get_text(" ", strip=True)[:90]}"'
            if tag.name not in ("table", "tbody", "tr", "td", "div", "center", "span"):
                break
    if named is not None and named.get_text(strip=True):
        return True, f'"{named.get_text(" ", strip=True)[:90]}"'
    return False, "no hidden preview text before the content (the inbox shows the first text)"
