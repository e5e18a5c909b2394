"""The e-mail health check: list quality against a written corpus, the demo's dirty
addresses, suppression and inactivity from the messages, and bad input."""

from pathlib import Path

import pandas as pd
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle import synthetic
from lifecycle.health import FLAGS, check_list, check_message, check_sender, counts, report
from lifecycle.health.addresses import _validated
from lifecycle.schema import DataError

CORPUS = Path(__file__).parent / "data" / "email_addresses.csv"


DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def corpus():
    table = pd.read_csv(CORPUS, dtype=str, keep_default_na=False)
    return table.assign(email=table.email.where(table.email != "", None))


def _corpus_checked(corpus):
    """The corpus checked with its suppression list and its customers' messages."""
    messages = pd.read_csv(DATA / "email_messages.csv",
                           parse_dates=["sent_at", "opened_at", "clicked_at", "complained_at"])
    return check_list(corpus[["customer_id", "email"]],
                      suppression=pd.read_csv(DATA / "email_suppression.csv"),
                      messages=messages, as_of="2026-11-30")


def test_every_address_of_the_corpus_gets_its_flags_action_and_suggestion(corpus):
    assert len(corpus) >= 200
    assert set(" ".join(corpus.expected).split()) == set(FLAGS)
    checked = _corpus_checked(corpus)
    wrong = []
    for i, row in corpus.iterrows():
        flags = {f for f in FLAGS if checked.at[i, f]}
        got = (flags, checked.at[i, "action"], checked.at[i, "suggestion"] or "")
        if got != (set(row.expected.split()), row.action, row.suggestion):
            wrong.append(f"{row.email!r} ({row.note}): expected {row.expected or 'no flag'}, "
                         f"{row.action} {row.suggestion}; got {got}")
    assert wrong == []


def test_counts_per_flag_and_action_by_hand():
    table = counts(check_list(pd.Series(["a@example.com", "A@example.com", None,
                                         "info@example.com", "b@gmial.com"])))
    assert table["count"].to_dict() == {
        "missing": 1, "invalid_syntax": 0, "duplicate": 1, "role": 1, "disposable": 0,
        "suppressed": 0, "inactive": 0, "typo_domain": 1, "keep": 1, "fix": 1, "suppress": 3}
    assert table.loc["suppress", "share"] == pytest.approx(0.6)


def test_the_result_keeps_the_input_rows_in_order_with_their_customer():
    frame = pd.DataFrame({"customer_id": ["c3", "c1", "c2"],
                          "email": ["b@example.com", None, "B@example.com"]}, index=[7, 8, 9])
    checked = check_list(frame)
    assert checked.columns[:4].tolist() == ["customer_id", "email", "normalized", "mailbox"]
    assert checked.customer_id.tolist() == ["c3", "c1", "c2"]
    assert checked.duplicate.tolist() == [False, False, True]
    assert checked.normalized.tolist() == ["b@example.com", None, "B@example.com"]


def test_suppression_list_hard_bounces_and_complaints_suppress():
    frame = pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4"],
                          "email": ["ann@example.com", "bob@example.com", "cid@example.com",
                                    "dan@gmail.com"]})
    suppression = pd.DataFrame({"email": [" ANN@example.com", "d.an+x@gmail.com"]})
    messages = pd.DataFrame({
        "customer_id": ["c2", "c3", "c3"], "message_id": ["m1", "m2", "m3"],
        "sent_at": pd.to_datetime(["2026-10-01", "2026-10-02", "2026-10-03"]),
        "bounce": ["hard", "soft", None],
        "complained_at": [pd.NaT, pd.NaT, pd.Timestamp("2026-10-04")]})
    checked = check_list(frame, suppression=suppression, messages=messages)
    # ann is listed, bob hard-bounced, cid complained (a soft bounce alone would not do),
    # and dan's Gmail mailbox is listed under another spelling
    assert checked.suppressed.tolist() == [True, True, True, True]
    assert not check_list(frame, messages=messages.assign(
        bounce=[None, "soft", None], complained_at=pd.NaT)).suppressed.any()


@pytest.mark.parametrize(("last_open_days_before", "inactive"), [
    (365, True),   # the period is the 365 days before as_of: that day is outside it
    (364, False),
    (None, True),
])
def test_inactive_means_mailed_in_the_period_and_never_engaged(last_open_days_before,
                                                                inactive):
    as_of = pd.Timestamp("2026-11-30")
    sent = [as_of - pd.Timedelta(days=d) for d in (365, 364, 100, 10)]
    opened = [pd.NaT] * 4
    if last_open_days_before is not None:
        opened[[365, 364, 100, 10].index(last_open_days_before)] = sent[0] + pd.Timedelta(
            days=365 - last_open_days_before)
    messages = pd.DataFrame({"customer_id": "c1", "sent_at": sent, "opened_at": opened})
    frame = pd.DataFrame({"customer_id": ["c1", "c2"], "email": ["a@example.com",
                                                                 "b@example.com"]})
    checked = check_list(frame, messages=messages, as_of=as_of)
    assert checked.inactive.tolist() == [inactive, False]  # c2 was never mailed: unknown
    assert checked.action[0] == ("suppress" if inactive else "keep")


def test_a_machine_open_is_no_sign_of_life_and_a_click_is():
    as_of = pd.Timestamp("2026-11-30")
    sent = [as_of - pd.Timedelta(days=d) for d in (30, 20, 10)]
    base = pd.DataFrame({"customer_id": "c1", "sent_at": sent, "opened_at": sent,
                         "machine_open": True, "clicked_at": pd.NaT})
    frame = pd.DataFrame({"customer_id": ["c1"], "email": ["a@example.com"]})
    assert check_list(frame, messages=base, as_of=as_of).inactive[0]
    clicked = base.assign(clicked_at=[pd.NaT, pd.NaT, sent[2]])
    assert not check_list(frame, messages=clicked, as_of=as_of).inactive[0]
    assert not check_list(frame, messages=base.iloc[:2], as_of=as_of).inactive[0]  # 2 < 3


def test_disposable_overrides():
    emails = pd.Series(["a@mailinator.com", "b@our-test-inbox.fi", "c@sub.our-test-inbox.fi"])
    assert check_list(emails).disposable.tolist() == [True, False, False]
    checked = check_list(emails, allow=["mailinator.com"], deny=["our-test-inbox.fi"])
    assert checked.disposable.tolist() == [False, True, True]


def test_the_demo_dirty_addresses_are_all_found():
    demo = synthetic.generate(4000, random_state=3)
    customers = demo.tables["customers"]
    checked = check_list(customers[["customer_id", "email"]]).set_index("customer_id")
    truth = demo.truth.emails.set_index("customer_id")
    expected = {"missing": "missing", "invalid": "invalid_syntax", "role": "role",
                "disposable": "disposable"}
    for issue, flag in expected.items():
        who = truth.index[truth.issue == issue]
        assert len(who) and checked.loc[who, flag].all(), issue
        assert (checked.loc[who, "action"] == "suppress").all(), issue
    for issue in ("upper_case", "whitespace"):
        who = truth.index[truth.issue == issue]
        assert len(who) and (checked.loc[who, "action"] == "fix").all(), issue
    copies = truth[truth.issue == "duplicate"]
    pairs = checked.loc[copies.index, "duplicate"].to_numpy() | checked.loc[
        copies.duplicate_of, "duplicate"].to_numpy()
    assert len(copies) and pairs.all()  # one of each pair, whichever comes second
    clean = checked.index.difference(truth.index).difference(copies.duplicate_of)
    assert (checked.loc[clean, "action"] == "keep").all()


def test_bad_input_names_the_table_and_column():
    with pytest.raises(DataError, match="'addresses', column 'email': required column"):
        check_list(pd.DataFrame({"mail": ["a@example.com"]}))
    with pytest.raises(DataError, match="'addresses', column 'email': values must be text"):
        check_list(pd.DataFrame({"email": ["a@example.com", 7, ["x"]]}))
    with pytest.raises(TypeError, match="a DataFrame with an 'email' column or a Series"):
        check_list(["a@example.com"])
    assert check_list(pd.Series([], dtype=object)).empty


_ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-."


@settings(max_examples=300, deadline=None)
@given(st.text(_ATEXT, min_size=0, max_size=70),
       st.sampled_from(["example.com", "Example.COM", "mail.example.fi", "localhost",
                        "shop.test", "x-.com", "exämple.com", "a.b", "1.2.3.4", ""]))
def test_the_fast_path_agrees_with_email_validator(local, domain):
    address = f"{local}@{domain}"
    try:
        v = validate_email(address, check_deliverability=False, strict=True)
        expected = (v.local_part, v.domain)
    except EmailNotValidError:
        expected = (None, None)
    got = _validated([address])
    assert (got[0][0], got[1][0]) == expected


# -- sample messages ------------------------------------------------------------------------
MESSAGES = Path(__file__).parent / "data" / "messages"
EXPECTED = pd.read_csv(MESSAGES / "expected.csv", dtype=str, keep_default_na=False)


@pytest.mark.parametrize("name", sorted(p.stem for p in MESSAGES.glob("*.eml")))
def test_each_sample_message_fails_exactly_its_expected_checks(name):
    findings = check_message((MESSAGES / f"{name}.eml").read_bytes()).set_index("check")
    assert findings.evidence.map(bool).all()
    expected = {row.check: {"False": False, "": None}[row.passed]
                for row in EXPECTED[EXPECTED.file == name].itertuples()}
    failed = {c: p for c, p in findings.passed.items() if p is not True}
    assert failed == expected


def test_there_are_ten_samples_or_more_and_one_passes_everything():
    names = {p.stem for p in MESSAGES.glob("*.eml")}
    assert len(names) >= 10 and set(EXPECTED.file) <= names and "good" not in set(EXPECTED.file)


def test_dmarc_alignment_uses_the_organisational_domain():
    raw = ("From: a@news.shop.example.co.uk\r\nAuthentication-Results: mx; "
           "dkim=pass header.d=mail.example.co.uk; spf=pass smtp.mailfrom=x.example.co.uk\r\n"
           "\r\nhi")
    row = check_message(raw).set_index("check").loc["dmarc_alignment"]
    assert row.passed and "example.co.uk" in row.evidence
    other = raw.replace("example.co.uk; spf", "elsewhere.co.uk; spf").replace(
        "x.example.co.uk", "x.other.co.uk")
    assert not check_message(other).set_index("check").loc["dmarc_alignment"].passed


def test_a_message_without_html_says_what_it_could_not_check():
    findings = check_message(b"From: a@shop.example.com\r\nSubject: Hi\r\n\r\nPlain text.")
    by = findings.set_index("check")
    assert by.loc[["viewport", "links", "preheader"], "passed"].isna().all()
    assert by.loc["text_part", "passed"] and by.loc["subject_length", "passed"]
    assert set(findings.area) == {"deliverability", "devices", "content"}


# -- the sender's DNS, through a fake resolver ------------------------------------------
class FakeDNS:
    """Answers from a dict and remembers what it was asked; anything else has no record."""

    def __init__(self, records):
        self.records, self.asked = records, []

    def __call__(self, name, kind):
        self.asked.append((name, kind))
        return self.records.get((name, kind), [])


@pytest.fixture
def no_network(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("the health check tried the network")
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _sender(**kwargs):
    return check_sender("shop.example.com", **kwargs).set_index("check")


def test_without_records_or_a_resolver_nothing_is_passed(no_network):
    found = _sender()
    assert found.passed.isna().all() and found.evidence.str.contains("not checked").all()


def test_spf_counts_nested_lookups_and_void_ones(no_network):
    chain = {(f"i{k}.example", "TXT"): [f"v=spf1 include:i{k + 1}.example a -all"]
             for k in range(5)}
    chain[("i5.example", "TXT")] = ["v=spf1 ip4:192.0.2.1 -all"]
    dns = FakeDNS({("shop.example.com", "TXT"): ["v=spf1 include:i0.example mx -all"],
                   **chain})
    found = _sender(resolver=dns)
    assert not found.passed["spf_lookups"]  # 2 + 5 x 2 = 12 terms that query DNS
    assert found.evidence["spf_lookups"].startswith("12 DNS-querying terms")
    void = FakeDNS({("shop.example.com", "TXT"): [
        "v=spf1 include:gone1.example include:gone2.example include:gone3.example -all"]})
    assert _sender(resolver=void).evidence["spf_lookups"] == (
        "3 DNS-querying terms of 10 allowed, 3 void")
    assert not _sender(resolver=void).passed["spf_lookups"]
    ten = "v=spf1 " + " ".join(f"a:h{k}.example" for k in range(10)) + " -all"
    assert _sender(spf=ten).passed["spf_lookups"]
    assert not _sender(spf=ten.replace(" -all", " mx -all")).passed["spf_lookups"]


@pytest.mark.parametrize(("record", "passed", "says"), [
    ("v=spf1 ip4:192.0.2.0/24 include:_spf.esp.example ~all", None, "not looked up"),
    ("v=spf1 ip4:192.0.2.0/24 -all", True, "v=spf1"),
    ("v=spf1 ip4:192.0.2.0/24 +all", False, "+all"),
    ("v=spf1 ip4:192.0.2.0/24", False, "no -all or ~all"),
    ("v=spf1 ip4:192.0.2.300 -all", False, "not an address"),
    ("v=spf1 ip4:192.0.2.1 fancy:x -all", False, "unknown term"),
    ("v=spf1 redirect=_spf.example.com", True, "redirect"),
])
def test_spf_record_rules(record, passed, says, no_network):
    found = _sender(spf=record)
    check = "spf_lookups" if passed is None else "spf_record"
    assert found.passed[check] is passed and says in found.evidence[check]


def test_two_spf_records_are_an_error():
    dns = FakeDNS({("shop.example.com", "TXT"): ["v=spf1 -all", "v=spf1 mx -all",
                                                 "google-site-verification=x"]})
    assert _sender(resolver=dns).evidence["spf_record"] == "2 SPF records (one allowed)"


@pytest.mark.parametrize(("record", "expected"), [
    ("v=DMARC1; p=reject; rua=mailto:dmarc@shop.example.com", [True, True, True]),
    ("v=DMARC1; p=quarantine; pct=50; rua=mailto:d@shop.example.com", [True, False, True]),
    ("v=DMARC1; p=none", [True, False, False]),
    ("v=DMARC1; rua=mailto:d@shop.example.com", [False, False, True]),
    ("p=reject", [False, True, False]),
])
def test_dmarc_record_policy_and_reports(record, expected):
    found = _sender(dmarc=record)
    assert found.passed[["dmarc_record", "dmarc_policy", "dmarc_reports"]].tolist() == expected


def test_dmarc_is_looked_up_at_its_own_name_and_a_missing_one_fails(no_network):
    dns = FakeDNS({})
    found = _sender(resolver=dns)
    assert ("_dmarc.shop.example.com", "TXT") in dns.asked
    assert not found.passed[["dmarc_record", "dmarc_policy", "dmarc_reports"]].any()


def test_block_lists_by_domain_and_reversed_ip(no_network):
    dns = FakeDNS({("1.2.0.192.zen.spamhaus.org", "A"): ["127.0.0.2"],
                   ("shop.example.com.dbl.spamhaus.org", "A"): ["127.0.1.2"]})
    found = _sender(resolver=dns, ip="192.0.2.1")
    assert not found.passed["block_lists"]
    assert found.evidence["block_lists"] == ("shop.example.com on dbl.spamhaus.org; "
                                             "192.0.2.1 on zen.spamhaus.org")
    refused = _sender(resolver=FakeDNS({("shop.example.com.dbl.spamhaus.org", "A"): [
        "127.255.255.254"]}))  # the list's answer to a public resolver: not a listing
    assert refused.passed["block_lists"] is None
    assert "dbl.spamhaus.org refused" in refused.evidence["block_lists"]
    clean = _sender(resolver=FakeDNS({}), ip="192.0.2.1")
    assert clean.passed["block_lists"] and clean.evidence["block_lists"] == "on none of 4 lists"


# -- the report and the command line ---------------------------------------------------------
def test_scores_follow_the_stated_rules(corpus):
    checked = check_list(corpus.email)
    messages = {name: check_message((MESSAGES / f"{name}.eml").read_bytes())
                for name in ("good", "no_authentication_results", "wide_layout")}
    r = report(checked, messages=messages, sender=check_sender("shop.example.com"))
    scores = r.scores.set_index("area").score
    present = checked[~checked.missing]
    keep, fix = (present.action == "keep").sum(), (present.action == "fix").sum()
    assert scores["list quality"] == pytest.approx(100 * (keep + fix / 2) / len(present),
                                                   abs=0.01)
    found = pd.concat(messages.values())
    devices = found[found.area == "devices"]
    assert scores["devices"] == pytest.approx(100 * devices.passed.eq(True).sum()
                                              / devices.passed.notna().sum(), abs=0.01)
    # the sender was not looked up: its checks count neither way
    deliverability = found[found.area == "deliverability"]
    assert scores["deliverability"] == pytest.approx(
        100 * deliverability.passed.eq(True).sum() / deliverability.passed.notna().sum(),
        abs=0.01)
    assert r.addresses.action.isin(["fix", "suppress"]).all()
    assert len(r.addresses) == (checked.action != "keep").sum()
    assert report().scores.score.isna().all()


def test_the_html_report_stands_alone(tmp_path, corpus):
    r = report(check_list(corpus.email),
               messages={"bad_links.eml": check_message((MESSAGES / "bad_links.eml").read_bytes())})
    path = r.write_html(tmp_path / "out" / "report.html")
    page = path.read_text()
    assert "<script" not in page.lower() and " src=" not in page and " href=" not in page
    assert "javascript:void(0)" in page  # evidence is shown, escaped, not live
    assert page.count("class='card'") == 4 and "DMARC alignment" in page
    assert "Addresses to clean (" in page and "One-click unsubscribe" in page
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temp file left


def test_the_command_line_checks_and_says_what_is_wrong(tmp_path, corpus, capsys):
    from lifecycle.cli import main

    listing = tmp_path / "customers.csv"
    corpus[["email"]].to_csv(listing, index=False)
    out, clean = tmp_path / "report.html", tmp_path / "clean.csv"
    code = main(["health", "--list", str(listing), "--message",
                 str(MESSAGES / "no_one_click.eml"), "--domain", "shop.example.com",
                 "--dmarc", "v=DMARC1; p=reject; rua=mailto:d@shop.example.com",
                 "--out", str(out), "--addresses", str(clean)])
    printed = capsys.readouterr().out
    assert code == 0 and out.exists() and "failed: no_one_click.eml: one_click" in printed
    assert len(pd.read_csv(clean)) == (check_list(corpus.email).action != "keep").sum()
    assert main(["health"]) == 1
    assert capsys.readouterr().err.strip() == (
        "lifecycle health: nothing to check: give --list, --message or --domain")
    assert main(["health", "--message", str(tmp_path / "nope.eml")]) == 1
    assert "no file at" in capsys.readouterr().err


def test_the_dashboard_view_lists_the_chosen_flag_and_scores_the_chosen_message(corpus):
    from lifecycle.ui.email_health import email_health_view

    checked = check_list(corpus.email)
    found = {name: check_message((MESSAGES / f"{name}.eml").read_bytes())
             for name in ("good", "wide_layout")}
    view = email_health_view(checked, found)
    role = {b["name"]: b for b in view({"flag": "role", "message": "wide_layout"})}
    rows = role["addresses"]["html"].split("<tbody>")[1].count("<tr>")
    assert rows == min(checked.role.sum(), 50) and "role" in role["addresses"]["html"]
    assert 'lc-card-devices" data-value="66.67"' in role["headline"]["html"]  # 4 of 6
    good = {b["name"]: b for b in view({"flag": "All", "message": "good"})}
    assert 'lc-card-devices" data-value="100.0"' in good["headline"]["html"]
    assert f'lc-card-addresses" data-value="{float(len(corpus))!r}"' in good["headline"]["html"]



# -- edge cases found in review ------------------------------------------------------------
def test_a_script_in_the_body_and_a_broken_link_are_found():
    raw = (b"From: a@shop.example.com\r\nSubject: Hi\r\nContent-Type: text/html\r\n\r\n"
           b"<html><body><p>hi</p><script>alert(1)</script>"
           b'<a href="http://[oops/x">x</a></body></html>')
    found = check_message(raw).set_index("check")
    assert not found.passed["no_scripts_or_forms"] and found.evidence["no_scripts_or_forms"] == (
        "script")
    assert found.evidence["links"] == "malformed: http://[oops/x"


def test_one_dkim_signature_covering_the_unsubscribe_headers_is_enough():
    good = (MESSAGES / "good.eml").read_bytes()
    esp = good.replace(b"DKIM-Signature:", b"DKIM-Signature: v=1; d=esp.example; "
                       b"h=from:to:subject:date; bh=x; b=y\r\nDKIM-Signature:", 1)
    assert check_message(esp).set_index("check").passed["one_click_unsubscribe"]


def test_inactivity_counts_the_whole_as_of_day_and_only_delivered_e_mails():
    as_of = pd.Timestamp("2026-11-30")
    days = [as_of - pd.Timedelta(days=d) for d in (29, 20, 10)]
    frame = pd.DataFrame({"customer_id": ["c1"], "email": ["a@example.com"]})
    opened_today = pd.DataFrame({"customer_id": "c1", "channel": "email",
                                 "sent_at": [*days, as_of + pd.Timedelta(hours=9)],
                                 "opened_at": [pd.NaT] * 3 + [as_of + pd.Timedelta(hours=10)]})
    assert not check_list(frame, messages=opened_today, as_of="2026-11-30").inactive[0]
    sms = pd.DataFrame({"customer_id": "c1", "channel": "sms", "sent_at": days,
                        "opened_at": pd.NaT, "bounce": "hard"})
    quiet = check_list(frame, messages=sms, as_of=as_of)
    assert not quiet.inactive[0] and not quiet.suppressed[0]  # SMS says nothing of e-mail
    bounced = sms.assign(channel="email", bounce=["hard", "soft", "soft"])
    checked = check_list(frame, messages=bounced, as_of=as_of)
    assert checked.suppressed[0] and not checked.inactive[0]  # bounced mail was not seen


def test_a_mistyped_domain_on_the_deny_list_is_disposable():
    emails = pd.Series(["a@gmial.com"])
    assert not check_list(emails).disposable[0]
    assert check_list(emails, deny=["gmial.com"]).disposable[0]


def test_neutral_spf_fails_and_ipv6_and_refusals_are_handled(no_network):
    assert not _sender(spf="v=spf1 ip4:192.0.2.0/24 ?all").passed["spf_record"]
    assert _sender(spf="v=spf1 include:firewall.example -all").passed["spf_record"]  # ends "all"
    dns = FakeDNS({("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
                    ".zen.spamhaus.org", "A"): ["127.0.0.3"],
                   ("shop.example.com.multi.surbl.org", "A"): ["127.0.0.1"]})
    found = _sender(resolver=dns, ip="2001:db8::1")
    assert not found.passed["block_lists"] and "2001:db8::1 on zen.spamhaus.org" in found.evidence[
        "block_lists"]
    refused = _sender(resolver=FakeDNS({("shop.example.com.multi.surbl.org", "A"):
                                        ["127.0.0.1"]}))
    assert refused.passed["block_lists"] is None  # SURBL's answer to a refused query


def test_a_resolver_that_cannot_answer_leaves_the_checks_unchecked(no_network):
    def failing(name, kind):
        raise LookupError(f"no answer for {name}")
    found = _sender(resolver=failing)
    assert found.passed.isna().all()


def test_dmarc_falls_back_to_the_organisational_domain(no_network):
    dns = FakeDNS({("_dmarc.example.com", "TXT"): ["v=DMARC1; p=reject; rua=mailto:d@x.com"]})
    found = check_sender("news.shop.example.com", resolver=dns).set_index("check")
    assert found.passed[["dmarc_record", "dmarc_policy", "dmarc_reports"]].all()
    assert dns.asked[dns.asked.index(("_dmarc.news.shop.example.com", "TXT")) + 1] == (
        "_dmarc.example.com", "TXT")
