"""The e-mail list check at scale: ``health.check_list`` on a million addresses.

The list (generated, seeded): first.last + number at the demo's providers, with the kinds of
dirt a real list has, each on about 0.5 % of the rows: surrounding spaces, capitals, broken
syntax, role addresses, disposable and mistyped domains, copies of the row before (in
capitals, or its Gmail dot and tag variant), and internationalised addresses (which take
email-validator's full path). The goal: under 60 s here.

Usage::

    python bench/bench_health.py                      # 1,000,000 addresses
    python bench/bench_health.py --addresses 100000   # quick
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lifecycle.health import check_list, counts  # noqa: E402

DOMAINS = ["gmail.com", "hotmail.com", "outlook.com", "yahoo.com", "icloud.com", "elisa.fi",
           "telia.com", "online.no", "mail.dk", "kolumbus.fi", "company.fi", "example.se"]
DIRT = {
    "spaces": lambda a, i: f"  {a} ",
    "capitals": lambda a, i: a.title(),
    "no_at": lambda a, i: a.replace("@", ""),
    "double_dot": lambda a, i: a.replace(".", "..", 1),
    "role": lambda a, i: f"info@company{i}.fi",
    "disposable": lambda a, i: a.split("@")[0] + "@mailinator.com",
    "typo": lambda a, i: a.split("@")[0] + "@gmial.com",
    "copy": None,  # the row before, in capitals, or as a Gmail dot and tag variant
    "international": lambda a, i: f"jörg.müller{i}@exämple.de",
}


def addresses(n: int, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    names = np.array(["anna", "mikko", "sofia", "erik", "freja", "lars", "jukka", "ingrid"])
    first, last = names[rng.integers(0, len(names), n)], names[rng.integers(0, len(names), n)]
    domain = np.array(DOMAINS)[rng.integers(0, len(DOMAINS), n)]
    out = [f"{f}.{s}{i}@{d}" for i, (f, s, d) in enumerate(zip(first, last, domain,
                                                                   strict=True))]
    kind = rng.integers(0, 200, n)  # each kind of dirt on 1 row in 200
    for k, dirty in enumerate(DIRT.values()):
        for i in np.flatnonzero(kind == k):
            out[i] = dirty(out[i], i) if dirty else _copy(out[i - 1])
    return pd.Series(out)


def _copy(address: str) -> str:
    local, _, domain = address.partition("@")
    if domain == "gmail.com":
        return local.replace(".", "") + "+news@gmail.com"
    return address.upper()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=1_000_000)
    args = parser.parse_args()
    emails = addresses(args.addresses)
    start = time.perf_counter()
    checked = check_list(emails)
    seconds = time.perf_counter() - start
    print(f"{len(emails):,} addresses checked in {seconds:.1f} s "
          f"({len(emails) / seconds:,.0f} per second; goal: under 60 s)")
    print(counts(checked).to_string())


if __name__ == "__main__":
    main()
