"""The sender's DNS: SPF and DMARC records and block lists.

:func:`check_sender` checks the records given as text or looked up, through one
injectable ``resolver``: a callable ``resolver(name, record_type) -> list[str]`` that
returns the TXT strings or addresses found (an empty list when there are none). Without a
resolver nothing is looked up and what needs a look-up is reported as not checked
(``passed`` None), never as passed. :func:`dns_resolver` gives one built on ``dnspython``
(the ``dns`` extra).

============== ================= ==========================================================
area           check             passes when
============== ================= ==========================================================
deliverability spf_record        one ``v=spf1`` record whose terms are all valid, ending in
                                 ``-all`` or ``~all`` (or a ``redirect=``), never ``+all``
                                 or ``?all``
deliverability spf_lookups       at most 10 DNS-querying terms (``include``, ``a``, ``mx``,
                                 ``ptr``, ``exists``, ``redirect``), the included records'
                                 counted too, and at most 2 of them void (RFC 7208 4.6.4)
deliverability dmarc_record      one ``v=DMARC1`` record with a valid ``p``, at
                                 ``_dmarc.<domain>`` or else at the organisational domain
deliverability dmarc_policy      ``p=quarantine`` or ``p=reject`` on all mail (``pct=100``)
deliverability dmarc_reports     aggregate reports requested (``rua=mailto:...``)
deliverability block_lists       the domain (and the IP, if given) on none of the lists
============== ================= ==========================================================
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

import pandas as pd

from lifecycle.health.message import organisational_domain

Resolver = Callable[[str, str], list[str]]
#: DNS block lists queried by default: (zone, what it lists).
BLOCK_LISTS = (("zen.spamhaus.org", "ip"), ("bl.spamcop.net", "ip"),
               ("dbl.spamhaus.org", "domain"), ("multi.surbl.org", "domain"))
LOOKUP_LIMIT, VOID_LIMIT = 10, 2
_MECHANISMS = re.compile(r"([+?~-]?)(all|include|a|mx|ptr|ip4|ip6|exists)(?:([:/])(.*))?$", re.I)
_QUERIES = ("include", "a", "mx", "ptr", "exists")
_COLUMNS = ["area", "check", "passed", "evidence"]


def check_sender(domain: str, *, spf: str | None = None, dmarc: str | None = None,
                 ip: str | None = None, resolver: Resolver | None = None) -> pd.DataFrame:
    """The findings for a sending domain (see the module docstring).

    Examples
    --------
    >>> records = {("shop.example.com", "TXT"): ["v=spf1 include:_spf.esp.example ~all"],
    ...            ("_spf.esp.example", "TXT"): ["v=spf1 ip4:192.0.2.0/24 a mx -all"],
    ...            ("_spf.esp.example", "A"): ["192.0.2.25"],
    ...            ("_spf.esp.example", "MX"): ["10 mx.esp.example."],
    ...            ("_dmarc.shop.example.com", "TXT"): ["v=DMARC1; p=none; rua=mailto:d@shop.example.com"]}
    >>> def resolver(name, kind):
    ...     return records.get((name, kind), [])
    >>> found = check_sender("shop.example.com", resolver=resolver).set_index("check")
    >>> found.passed.tolist()
    [True, True, True, False, True, True]
    >>> found.evidence["spf_lookups"]
    '3 DNS-querying terms of 10 allowed, 0 void'
    """
    domain = domain.strip().strip(".").lower()
    rows = []
    spf_records = [spf] if spf is not None else _txt(resolver, domain, "v=spf1")
    rows += _spf(domain, spf_records, resolver)
    dmarc_records = [dmarc] if dmarc is not None else _txt(resolver, f"_dmarc.{domain}",
                                                            "v=dmarc1")
    organisation = organisational_domain(domain)
    if dmarc_records == [] and organisation != domain:  # RFC 7489 6.6.3: the org's record
        dmarc_records = _txt(resolver, f"_dmarc.{organisation}", "v=dmarc1")
    rows += _dmarc(dmarc_records)
    rows.append(_listed(domain, ip, resolver))
    return pd.DataFrame(rows, columns=_COLUMNS)


def dns_resolver(timeout: float = 5.0) -> Resolver:
    """A resolver on ``dnspython``: TXT strings joined per record, addresses as text."""
    import dns.exception
    import dns.resolver

    def resolve(name: str, record_type: str) -> list[str]:
        try:
            answer = dns.resolver.resolve(name, record_type, lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
            raise LookupError(f"no answer for {name} {record_type}: {error}") from error
        if record_type == "TXT":
            return [b"".join(r.strings).decode(errors="replace") for r in answer]
        return [r.to_text() for r in answer]
    return resolve


def _txt(resolver: Resolver | None, name: str, prefix: str) -> list[str] | None:
    """The TXT records of ``name`` that start with ``prefix`` (None: not looked up)."""
    if resolver is None:
        return None
    try:
        found = resolver(name, "TXT")
    except LookupError:  # no answer is not "no record": not checked
        return None
    return [r for r in found if r.strip().lower().startswith(prefix)]


def _spf(domain: str, records: list[str] | None, resolver) -> list[tuple]:
    if records is None:
        return [("deliverability", c, None, "not checked: give the record or a resolver")
                for c in ("spf_record", "spf_lookups")]
    if len(records) != 1:
        message = "no SPF record" if not records else f"{len(records)} SPF records (one allowed)"
        return [("deliverability", "spf_record", False, message),
                ("deliverability", "spf_lookups", False, message)]
    record = records[0].strip()
    problems, terms = [], record.split()[1:]
    if record.split()[0].lower() != "v=spf1":
        problems.append(f"starts with {record.split()[0]!r}, not v=spf1")
    for term in terms:
        if "=" in term and not _MECHANISMS.match(term):
            continue  # a modifier: redirect=, exp= or one the receiver ignores
        match = _MECHANISMS.match(term)
        if not match:
            problems.append(f"unknown term {term!r}")
        elif match.group(2).lower() in ("ip4", "ip6") and not _network(match.group(4)):
            problems.append(f"not an address: {term!r}")
    alls = [m.group(1) or "+" for m in map(_MECHANISMS.match, terms)
            if m and m.group(2).lower() == "all"]
    if "+" in alls:
        problems.append("+all lets anyone send as this domain")
    elif "?" in alls:
        problems.append("?all: mail from anywhere is neutral")
    elif not alls and not any(t.lower().startswith("redirect=") for t in terms):
        problems.append("no -all or ~all at the end: mail from anywhere is neutral")
    rows = [("deliverability", "spf_record", not problems,
             "; ".join(problems) or f"{record}")]
    count, void, unchecked = _lookups(record, resolver, seen={domain}, own=domain)
    evidence = f"{count} DNS-querying terms of {LOOKUP_LIMIT} allowed, {void} void"
    if unchecked:
        evidence += f" (included records not looked up: {', '.join(unchecked)})"
    passed = count <= LOOKUP_LIMIT and void <= VOID_LIMIT
    rows.append(("deliverability", "spf_lookups",
                 False if not passed else (None if unchecked else True), evidence))
    return rows


def _network(text: str | None) -> bool:
    try:
        ipaddress.ip_network(text or "", strict=False)
    except ValueError:
        return False
    return True


def _lookups(record: str, resolver, seen: set[str], own: str) -> tuple[int, int, list[str]]:
    """DNS-querying terms of ``record`` and of the records it includes, the void ones, and
    the names that could not be followed (no resolver); ``own``: the record's domain."""
    count = void = 0
    unchecked = []
    for term in record.split()[1:]:
        name = term.split("=", 1)[1] if term.lower().startswith("redirect=") else None
        match = _MECHANISMS.match(term)
        kind = match.group(2).lower() if match else ("redirect" if name else None)
        if kind not in (*_QUERIES, "redirect"):
            continue
        count += 1
        if kind in ("a", "mx", "exists") and resolver is not None:
            target = (match.group(4) if match.group(3) == ":" else None) or own
            if not resolver(target.split("/")[0], "MX" if kind == "mx" else "A"):
                void += 1
            continue
        if kind in ("include", "redirect"):
            name = name or match.group(4)
            if resolver is None:
                unchecked.append(name)
                continue
            if name in seen:
                continue
            found = _txt(resolver, name, "v=spf1")
            if not found:
                void += 1
                continue
            more, more_void, more_unchecked = _lookups(found[0], resolver, seen | {name}, name)
            count, void = count + more, void + more_void
            unchecked += more_unchecked
    return count, void, unchecked


def _dmarc(records: list[str] | None) -> list[tuple]:
    checks = ("dmarc_record", "dmarc_policy", "dmarc_reports")
    if records is None:
        return [("deliverability", c, None, "not checked: give the record or a resolver")
                for c in checks]
    if len(records) != 1:
        message = ("no DMARC record at _dmarc." if not records
                   else f"{len(records)} DMARC records (one allowed)")
        return [("deliverability", c, False, message) for c in checks]
    record = records[0].strip()
    tags = {k.strip().lower(): v.strip() for k, _, v in
            (part.partition("=") for part in record.split(";") if part.strip())}
    policy = tags.get("p", "").lower()
    valid = record.lower().replace(" ", "").startswith("v=dmarc1") and policy in (
        "none", "quarantine", "reject")
    pct = tags.get("pct", "100")
    strict = policy in ("quarantine", "reject") and pct == "100"
    rua = tags.get("rua", "")
    return [
        ("deliverability", "dmarc_record", valid,
         record if valid else f"not a valid DMARC record: {record!r} (needs v=DMARC1 and p)"),
        ("deliverability", "dmarc_policy", strict,
         f"p={policy or '(none given)'}, pct={pct}" + ("" if strict else
                                                      ": receivers only monitor, or only part")),
        ("deliverability", "dmarc_reports", rua.lower().startswith("mailto:"),
         f"rua={rua}" if rua else "no rua: no aggregate reports"),
    ]


def _listed(domain: str, ip: str | None, resolver) -> tuple:
    if resolver is None:
        return ("deliverability", "block_lists", None, "not checked: no resolver")
    queries = [(f"{domain}.{zone}", f"{domain} on {zone}") for zone, kind in BLOCK_LISTS
               if kind == "domain"]
    if ip:
        reverse = ipaddress.ip_address(ip).reverse_pointer.rsplit(".", 2)[0]  # no .in-addr.arpa
        queries += [(f"{reverse}.{zone}", f"{ip} on {zone}") for zone, kind in BLOCK_LISTS
                    if kind == "ip"]
    hits, refused = [], []
    for name, what in queries:
        zone = what.split(" on ")[1]
        try:
            answers = resolver(name, "A")
        except LookupError:
            refused.append(zone)
            continue
        if any(a.startswith("127.255.255.") or (zone == "multi.surbl.org" and a == "127.0.0.1")
               for a in answers):  # the lists' answers to a refused query
            refused.append(zone)
        elif any(a.startswith("127.") for a in answers):
            hits.append(what)
    if hits:
        return ("deliverability", "block_lists", False, "; ".join(hits))
    if refused:
        return ("deliverability", "block_lists", None,
                f"not checked: {', '.join(refused)} refused or did not answer the query "
                f"(public resolvers are refused: use your own)")
    return ("deliverability", "block_lists", True, f"on none of {len(queries)} lists")
