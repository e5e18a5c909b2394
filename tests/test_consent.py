"""The one rule of a valid consent, at its exact boundaries."""

import ibis
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle import DataError, consent

T0 = pd.Timestamp("2024-01-01")


def minutes(m):
    return None if m is None else T0 + pd.Timedelta(minutes=m)


rows = st.lists(st.tuples(st.integers(0, 20), st.one_of(st.none(), st.integers(0, 20)),
                          st.one_of(st.none(), st.integers(0, 20)),
                          st.sampled_from(["email", "sms"])), min_size=1, max_size=12)


def frame(spec):
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(len(spec))],
        "channel": [s[3] for s in spec],
        "granted_at": pd.to_datetime([minutes(s[0]) for s in spec]),
        "expires_at": pd.to_datetime([minutes(None if s[1] is None else s[0] + s[1])
                                      for s in spec]),
        "revoked_at": pd.to_datetime([minutes(None if s[2] is None else s[0] + s[2])
                                      for s in spec])})


def expected_at(spec, at):
    out = []
    for i, (g, e, r, ch) in enumerate(spec):
        ends = [g + d for d in (e, r) if d is not None]
        if ch == "email" and g <= at and (not ends or at < min(ends)):
            out.append(f"c{i}")
    return out


@settings(max_examples=100, deadline=None)
@given(rows, st.integers(0, 45))
def test_valid_is_the_half_open_interval_for_pandas_and_ibis(spec, at):
    c = frame(spec)
    got = consent.valid(c, channel="email", at=minutes(at))
    assert sorted(got.customer_id) == sorted(expected_at(spec, at))
    lazy = consent.valid(ibis.memtable(c), channel="email", at=minutes(at)).execute()
    assert sorted(lazy.customer_id) == sorted(got.customer_id)


@settings(max_examples=100, deadline=None)
@given(rows, st.integers(0, 45), st.integers(1, 10))
def test_valid_during_is_valid_at_some_minute_of_the_period(spec, start, length):
    c = frame(spec)
    got = consent.valid_during(c, channel="email", start=minutes(start),
                               end=minutes(start + length))
    # times are whole minutes, so "at some instant" is "at some whole minute" of [start, end)
    somewhere = {cid for m in range(start, start + length) for cid in expected_at(spec, m)}
    assert sorted(got.customer_id) == sorted(somewhere)


def test_boundaries_in_words():
    c = frame([(0, 10, None, "email"), (10, None, None, "email"), (0, None, 10, "email")])
    at_ten = consent.valid(c, channel="email", at=minutes(10)).customer_id.tolist()
    assert at_ten == ["c1"]  # expired and revoked at 10:00 are over; granted at 10:00 holds
    assert consent.valid(c, channel="sms", at=minutes(10)).empty


def test_purpose_and_missing_columns():
    c = frame([(0, None, None, "email")]).assign(purpose="newsletter")
    assert consent.valid(c, channel="email", at=minutes(1), purpose="offers").empty
    assert len(consent.valid(c.drop(columns=["expires_at", "revoked_at"]), channel="email",
                             at=minutes(1))) == 1
    with pytest.raises(DataError, match="'consents'.*'granted_at'"):
        consent.valid(c.drop(columns="granted_at"), channel="email", at=minutes(1))
