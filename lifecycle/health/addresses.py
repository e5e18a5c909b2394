"""List quality: which addresses of a list to keep, fix or suppress, and why.

:func:`check_list` gives one row per input address with these flags:

============== ===============================================================================
flag           meaning
============== ===============================================================================
missing        no address at all (null or blank)
invalid_syntax not an address mail can be sent to (RFC 5321/5322 as ``email-validator``
               checks it, without network look-ups): no @, two @, two dots in a row, a space
               inside, a special-use domain such as ``localhost`` or ``.test``
duplicate      the same mailbox as an earlier row (every copy after the first): the same
               address in any case, with or without surrounding spaces, and at providers
               that define it, with dots or a ``+tag`` (Gmail: ``u.ser+news@gmail.com`` is
               ``user@gmail.com``; Outlook, iCloud, Fastmail, Proton: ``+tag`` only)
role           the address of a function or a list, not of a person: ``info@``, ``sales@``,
               ``noreply@`` (the whole local part before any ``+tag``: ``info.smith@`` is a
               person)
disposable     a throw-away domain (the ``disposable-email-domains`` list, or a subdomain of
               one), with ``allow`` and ``deny`` overrides; a typo of a large provider's
               domain is a ``typo_domain`` instead, though the list holds some of them
suppressed     on the suppression list, or its customer's e-mails hard-bounced or drew a
               spam complaint
inactive       its customer was delivered at least ``min_messages`` e-mails in the
               ``inactive_days`` up to the end of ``as_of`` and opened (machine opens
               aside) or clicked none of them
typo_domain    the domain's name is one edit (or a swapped pair of letters) away from a
               large provider's of at least five letters, under the same ending
               (``gmial.com``), or it is such a provider's name with a mistyped ending
               (``gmail.con``, ``web.dee``); the providers' country domains are real
               (``hotmail.fi``, ``yahoo.es``)
============== ===============================================================================

``action``: ``suppress`` when the address is missing, invalid, suppressed, disposable, a
duplicate, a role address or inactive; else ``fix`` when the address should be stored
differently (``suggestion``: trimmed, domain in lower case, Unicode in its normal form, a
mistyped domain corrected); else ``keep``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
import pandas as pd

from lifecycle.schema import DataError, Problem, end_of

FLAGS = ("missing", "invalid_syntax", "duplicate", "role", "disposable", "suppressed",
         "inactive", "typo_domain")
ACTIONS = ("keep", "fix", "suppress")
_SUPPRESS = ("missing", "invalid_syntax", "suppressed", "disposable", "duplicate", "role",
             "inactive")

#: Local parts (lower case, before any +tag) that name a function or a list, not a person.
ROLE_LOCAL_PARTS = frozenset("""
abuse accounting accounts admin administrator all asiakaspalvelu billing booking bookings
careers contact customercare customerservice customer-service dev devnull do-not-reply
donotreply enquiries everyone feedback finance hello help helpdesk hostmaster hr info
inquiries invoice invoices it jobs kontakt kundeservice kundservice laskutus legal mail
mailer-daemon marketing media myynti news newsletter no-reply noc noreply no_reply
no.reply office orders post postmaster press privacy recruitment reservations root sales
salg security service spam staff subscribe support team tech unsubscribe webmaster
""".split())

#: How large providers define one mailbox: (dots ignored, the +tag separator).
PROVIDER_RULES = {
    "gmail.com": (True, "+"), "googlemail.com": (True, "+"),
    "outlook.com": (False, "+"), "hotmail.com": (False, "+"), "live.com": (False, "+"),
    "msn.com": (False, "+"), "icloud.com": (False, "+"), "me.com": (False, "+"),
    "mac.com": (False, "+"), "fastmail.com": (False, "+"), "proton.me": (False, "+"),
    "protonmail.com": (False, "+"),
}
_SAME_MAILBOX_DOMAIN = {"googlemail.com": "gmail.com"}

#: Large providers' domains a typo is measured against, and real domains near them.
POPULAR_DOMAINS = frozenset("""
gmail.com googlemail.com ymail.com icloud.com me.com mac.com aol.com aim.com mail.com
email.com gmx.de gmx.net gmx.com gmx.at gmx.ch web.de t-online.de orange.fr free.fr
protonmail.com proton.me comcast.net verizon.net telia.com online.no elisa.fi kolumbus.fi
mail.dk jubii.dk msn.com
""".split()) | frozenset(  # the country domains of the multi-country providers (the common
    f"{name}.{ending}" for name, endings in {  # ones: hotmail.fi is as real as hotmail.fr)
        "hotmail": "com co.uk fr de it es nl be se no dk fi ch at ie gr cz hu ca com.au "
                   "co.jp com.br com.ar cl co.za co.in",
        "live": "com co.uk fr de it nl be se no dk fi ch at ie ca com.au cl com.mx jp",
        "outlook": "com de fr es it dk ie jp com.br com.ar cl sa",
        "yahoo": "com co.uk fr de it es se no dk gr ie ca com.au co.jp co.in com.br com.ar",
    }.items() for ending in endings.split())
#: Below this many letters before the ending, names differ by one letter from too many real
#: domains (web.de, wed.de): only a mistyped ending counts as a typo there.
_SHORTEST_NAME = 5
_ENDINGS = ("com", "net", "org", "fi", "se", "no", "dk", "de", "fr", "co.uk", "me")

# A local part every RFC 5322 reading accepts (dot-atom of the common characters, no
# leading, trailing or double dot): the fast path that needs no per-address validation.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def check_list(addresses, *, suppression=None, messages=None, as_of=None,
               inactive_days: int = 365, min_messages: int = 3, allow=(), deny=()
               ) -> pd.DataFrame:
    """Check a list of e-mail addresses (see the module docstring for each flag).

    Parameters
    ----------
    addresses : pandas.DataFrame or pandas.Series
        A frame with an ``email`` column (and ``customer_id`` for the checks that read the
        messages), or the addresses as a Series.
    suppression : pandas.DataFrame, optional
        Addresses never to mail (an ``email`` column; spam traps, earlier complainers,
        hard bounces from another system).
    messages : pandas.DataFrame, optional
        The ``messages`` table (``customer_id``, ``sent_at``, ``bounce``, ``complained_at``,
        ``opened_at``, ``clicked_at``, ``machine_open``): hard bounces and complaints
        suppress, and ``inactive`` needs it.
    as_of : timestamp-like, optional
        The end of the inactivity period (default: the last message sent).
    inactive_days, min_messages : int
        The period without an open or click, and how many messages in it make that count.
    allow, deny : iterable of str
        Domains to take off, or add to, the disposable list.

    Returns
    -------
    pandas.DataFrame
        One row per input row, in order: ``email`` (as given), ``normalized``, ``mailbox``
        (the key duplicates share), the flags, ``suggestion`` and ``action``; the input's
        ``customer_id`` first when it has one.

    Examples
    --------
    >>> checked = check_list(pd.Series([" Ann@Example.COM", "u.ser+news@gmail.com",
    ...                                 "user@gmail.com", "info@shop.fi", "bob@gmial.com",
    ...                                 "bob@@shop.fi"]))
    >>> checked[["normalized", "duplicate", "role", "typo_domain", "action"]]
             normalized  duplicate   role  typo_domain    action
    0   Ann@example.com      False  False        False       fix
    1  u.ser+news@gmail.com  False  False        False      keep
    2    user@gmail.com       True  False        False  suppress
    3      info@shop.fi      False   True        False  suppress
    4     bob@gmial.com      False  False         True       fix
    5              None      False  False        False  suppress
    >>> checked.suggestion[4]
    'bob@gmail.com'
    """
    frame = _addresses(addresses)
    raw = frame["email"].astype(object).where(frame["email"].notna(), None)
    text = [unicodedata.normalize("NFC", v.strip()) if isinstance(v, str) else ""
            for v in raw]
    local, domain = _validated(text)
    parts = pd.DataFrame({"local": local, "domain": domain}, dtype=object)
    valid = parts.domain.notna()
    normalized = (parts.local + "@" + parts.domain).where(valid, None)
    mailbox = _mailboxes(parts.local, parts.domain).where(valid, None)
    domains = parts.domain[valid].unique()
    fixes = {d: _typo_fix(d) for d in domains}
    fixed_domain = parts.domain.map(fixes).where(valid, None)
    out = pd.DataFrame(index=frame.index)
    if "customer_id" in frame:
        out["customer_id"] = frame["customer_id"]
    out["email"] = raw
    out["normalized"] = normalized
    out["mailbox"] = mailbox
    out["missing"] = np.array([not t for t in text], bool)
    out["invalid_syntax"] = ~out.missing & ~valid
    out["duplicate"] = valid & mailbox.duplicated() & mailbox.notna()
    base = parts.local.where(valid, "").str.lower().str.split("+", n=1).str[0]
    out["role"] = valid & base.isin(ROLE_LOCAL_PARTS)
    deny = {d.lower() for d in deny}
    out["disposable"] = parts.domain.isin(  # typo-squatters' domains are on the list too
        _disposable([d for d in domains if fixes[d] is None or d in deny], allow, deny))
    out["suppressed"] = _suppressed(frame, mailbox, suppression, messages)
    out["inactive"] = _inactive(frame, messages, as_of, inactive_days, min_messages)
    out["typo_domain"] = fixed_domain.notna()
    suggestion = (parts.local + "@" + fixed_domain.where(fixed_domain.notna(), parts.domain)
                  ).where(valid, None)
    changed = valid & (suggestion != raw)
    flagged = out[list(_SUPPRESS)].any(axis=1)
    out["action"] = np.where(flagged, "suppress", np.where(changed, "fix", "keep"))
    out["suggestion"] = suggestion.astype(object).where(out.action == "fix", None)
    for name in ("normalized", "mailbox"):
        out[name] = out[name].astype(object).where(valid, None)
    return out.reset_index(drop=True)


def counts(checked: pd.DataFrame) -> pd.DataFrame:
    """How many addresses carry each flag and each action, and their share of the list.

    Examples
    --------
    >>> counts(check_list(pd.Series(["ann@example.com", "info@shop.fi", None])))
                    count     share
    missing             1  0.333333
    invalid_syntax      0  0.000000
    duplicate           0  0.000000
    role                1  0.333333
    disposable          0  0.000000
    suppressed          0  0.000000
    inactive            0  0.000000
    typo_domain         0  0.000000
    keep                1  0.333333
    fix                 0  0.000000
    suppress            2  0.666667
    """
    flags = checked[list(FLAGS)].sum()
    actions = checked.action.value_counts().reindex(list(ACTIONS), fill_value=0)
    total = pd.concat([flags, actions]).astype("int64")
    return pd.DataFrame({"count": total, "share": total / max(len(checked), 1)})


def _addresses(addresses) -> pd.DataFrame:
    if isinstance(addresses, pd.Series):
        return pd.DataFrame({"email": addresses.reset_index(drop=True)})
    if not isinstance(addresses, pd.DataFrame):
        raise TypeError(f"expected a DataFrame with an 'email' column or a Series, got "
                        f"{type(addresses).__name__}")
    if "email" not in addresses:
        raise DataError([Problem("addresses", "email", "required column missing (columns "
                                 f"present: {', '.join(map(str, addresses.columns)) or 'none'})",
                                 0)])
    odd = addresses.email.map(lambda v: not (isinstance(v, str) or v is None or v is pd.NA
                                             or (isinstance(v, float) and np.isnan(v))))
    if odd.any():
        raise DataError([Problem("addresses", "email", "values must be text", int(odd.sum()),
                                 addresses.loc[odd, ["email"]].head(5))])
    return addresses.reset_index(drop=True)


def _validated(text: list[str]) -> tuple[list, list]:
    """Local parts and domains (lower case, IDNA in its Unicode form) of the valid
    addresses, None for the others. The common form (a plain local part, a domain seen
    before) is checked by pattern and one ``email-validator`` call per domain; every other
    address by ``email-validator`` itself."""
    locals_, domains = [None] * len(text), [None] * len(text)
    for i, address in enumerate(text):
        if not address:
            continue
        local, at, domain = address.rpartition("@")
        if (at and len(local) <= 64 and len(address) <= 254 and _PLAIN_LOCAL.fullmatch(local)
                and domain.isascii()):
            checked = _domain(domain)
            if checked is not None:
                locals_[i], domains[i] = local, checked
            continue
        full = _email(address)
        if full is not None:
            locals_[i], domains[i] = full
    return locals_, domains


@lru_cache(maxsize=1 << 16)
def _domain(domain: str) -> str | None:
    """The domain as ``email-validator`` normalizes it, or None if mail cannot go there."""
    checked = _email(f"a@{domain}")
    return None if checked is None else checked[1]


def _email(address: str) -> tuple[str, str] | None:
    from email_validator import EmailNotValidError, validate_email

    try:
        v = validate_email(address, check_deliverability=False, strict=True)
    except EmailNotValidError:
        return None
    return v.local_part, v.domain


def _mailboxes(local: pd.Series, domain: pd.Series) -> pd.Series:
    """The mailbox key: the address in lower case, with the provider's own rules."""
    local, domain = local.str.lower(), domain.replace(_SAME_MAILBOX_DOMAIN)
    out = local.copy()
    for name, (dots, tag) in PROVIDER_RULES.items():
        at = domain == name
        if at.any():
            mine = local[at].str.split(tag, n=1, regex=False).str[0]
            out[at] = mine.str.replace(".", "", regex=False) if dots else mine
    return out + "@" + domain


def _disposable(domains, allow, deny) -> set[str]:
    from disposable_email_domains import blocklist

    allow, deny = {d.lower() for d in allow}, {d.lower() for d in deny}
    listed = (set(blocklist) | deny) - allow
    out = set()
    for d in domains:
        labels = d.split(".")
        if any(".".join(labels[i:]) in listed for i in range(len(labels) - 1)) and d not in allow:
            out.add(d)
    return out


@lru_cache(maxsize=1 << 16)
def _typo_fix(domain: str) -> str | None:
    """The large provider's domain ``domain`` is a typo of, or None: the name mistyped under
    the same ending (``gmial.com``), or the name with a mistyped ending (``gmail.con``)."""
    if domain in POPULAR_DOMAINS:
        return None
    name, _, ending = domain.partition(".")
    near = sorted(p for p in POPULAR_DOMAINS if p.partition(".")[2] == ending
                  and len(p.partition(".")[0]) >= _SHORTEST_NAME
                  and _one_edit(name, p.partition(".")[0]))
    if near:
        return near[0]
    if ending and ending not in _ENDINGS:
        for popular in sorted(POPULAR_DOMAINS, key=lambda p: (not p.endswith(".com"), p)):
            p_name, _, p_ending = popular.partition(".")
            if p_name == name and _one_edit(ending, p_ending):
                return popular
    return None


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` becomes ``b`` by one insertion, deletion, substitution or swap of two
    neighbouring characters."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = next((i for i in range(len(short)) if short[i] != long_[i]), len(short))
    return short[i:] == long_[i + 1:]


def _email_messages(messages: pd.DataFrame) -> pd.DataFrame:
    """The e-mails among the messages (all of them when the table has no channel)."""
    if "channel" not in messages:
        return messages
    return messages[messages.channel.astype("string").str.lower().eq("email").fillna(False)]


def _suppressed(frame, mailbox, suppression, messages) -> np.ndarray:
    out = np.zeros(len(frame), bool)
    if suppression is not None:
        listed = check_list(_addresses(suppression)[["email"]])
        keys = set(listed.mailbox.dropna())
        out |= mailbox.isin(keys).fillna(False).to_numpy(bool)
    if messages is not None and "customer_id" in frame:
        mail = _email_messages(messages)
        bad = pd.Series(False, index=mail.index)
        if "bounce" in mail:
            bad |= mail.bounce.eq("hard").fillna(False)
        if "complained_at" in mail:
            bad |= mail.complained_at.notna()
        out |= frame.customer_id.isin(set(mail.customer_id[bad])).to_numpy(bool)
    return out


def _inactive(frame, messages, as_of, days: int, least: int) -> np.ndarray:
    """Customers sent at least ``least`` delivered e-mails in the ``days`` up to the end of
    ``as_of`` (``schema.end_of``: a date is the whole day) without a human open or click."""
    if messages is None or "customer_id" not in frame or not len(messages):
        return np.zeros(len(frame), bool)
    mail = _email_messages(messages)
    if "bounce" in mail:
        mail = mail[mail.bounce.isna()]
    if "delivered" in mail:
        mail = mail[mail.delivered.fillna(True).astype(bool)]
    sent = pd.to_datetime(mail.sent_at)
    end = end_of(as_of) if as_of is not None else sent.max() + pd.Timedelta(microseconds=1)
    recent = mail[(sent >= end - pd.Timedelta(days=days)) & (sent < end)]
    opened = recent.opened_at.notna() if "opened_at" in recent else False
    if "machine_open" in recent:
        opened = opened & ~recent.machine_open.fillna(False).astype(bool)
    clicked = recent.clicked_at.notna() if "clicked_at" in recent else False
    per = recent.assign(_engaged=opened | clicked).groupby("customer_id")._engaged.agg(
        ["size", "any"])
    idle = set(per.index[(per["size"] >= least) & ~per["any"]])
    return frame.customer_id.isin(idle).to_numpy(bool)
