"""The demo generator: shape of every table, and the data agrees with the truth it reports."""

import re

import numpy as np
import pandas as pd
import pytest

from lifecycle import campaigns, programs, synthetic
from lifecycle.schema import TABLES, validate

N = 5000
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module", params=[synthetic.PART_SIZE, 2000],
                ids=["in one part", "in three parts"])
def synth(request):
    return synthetic.generate(N, random_state=7, part_size=request.param)


@pytest.fixture(scope="module")
def purchases(synth):
    tx = synth.tables["transactions"]
    return tx[tx.amount > 0]


def test_same_seed_gives_identical_tables():
    one, two = (synthetic.generate(400, random_state=3) for _ in range(2))
    other = synthetic.generate(400, random_state=4)
    for name in synthetic.TABLE_NAMES:
        pd.testing.assert_frame_equal(one.tables[name], two.tables[name])
    for name in ("customers", "channels", "intent", "emails", "shared_devices", "returns",
                 "journeys"):
        pd.testing.assert_frame_equal(getattr(one.truth, name), getattr(two.truth, name))
    assert one.truth.control == two.truth.control
    assert not one.tables["transactions"].equals(other.tables["transactions"])


def test_every_table_has_the_canonical_columns_and_types(synth):
    skipped = ("suppressions", "runs")  # the demo has no suppression list and no runs yet
    assert list(synth.tables) == [t for t in TABLES if t not in skipped]
    for name, df in synth.tables.items():
        spec = TABLES[name]
        assert list(df.columns) == [c.name for c in spec.columns], name
        assert len(df) > 0, name
        for col in spec.columns:
            dtype = df[col.name].dtype
            where = f"{name}.{col.name}: {dtype}"
            if col.kind in ("id", "string"):
                text = isinstance(dtype, pd.StringDtype) or (
                    isinstance(dtype, pd.CategoricalDtype)
                    and pd.api.types.is_string_dtype(dtype.categories))
                assert text, where
            elif col.kind == "timestamp":
                assert dtype == "datetime64[us]", where
            elif col.kind == "float":
                assert dtype == np.float64, where
            else:
                assert dtype == np.bool_, where


def test_ids_are_strings_and_keys_unique(synth):
    t = synth.tables
    assert t["customers"].customer_id.str.fullmatch(r"C\d{6,7}").all()  # 7: part, number
    assert t["customers"].customer_id.is_unique
    assert t["transactions"].transaction_id.is_unique
    assert t["messages"].message_id.is_unique
    assert t["products"].product_id.is_unique and 250 <= len(t["products"]) <= 350
    key = ["run_id", "campaign_id", "cell_id", "customer_id"]
    assert not t["contact_history"].duplicated(key).any()


def _part(ids: pd.Series) -> pd.Series:
    """The part of each customer id: C<part><6 digits>, or C<6 digits> in a demo of one."""
    return ids.str[1] if ids.str.len().iloc[0] == 8 else ids.str[:0]


def _rounded(synth, share: float) -> int:
    """``round(share * customers)`` of each part, added up: each part rounds its own."""
    return sum(round(share * n) for n in _part(synth.tables["customers"].customer_id
                                               ).value_counts())


def test_parts_never_share_an_id_and_part_0_draws_as_a_demo_in_one_part():
    parts = [synthetic.part(k, 3000, random_state=7, part_size=1000) for k in range(3)]
    columns = {"customers": ["customer_id", "email"], "transactions": ["transaction_id"],
               "messages": ["message_id"], "events": ["session_id", "anonymous_id"]}
    for table, names in columns.items():
        for name in names:
            values = [set(p.tables[table][name].dropna().str.lower()) for p in parts]
            assert not (values[0] & values[1] or values[0] & values[2] or values[1] & values[2])
    assert [p.tables["customers"].customer_id.str[:2].unique().tolist() for p in parts] == [
        ["C0"], ["C1"], ["C2"]]
    assert ["products" in p.tables and "campaigns" in p.tables for p in parts] == [
        True, False, False]
    sold = pd.concat([p.tables["transactions"].product_id for p in parts]).astype(str)
    assert set(sold) <= set(parts[0].tables["products"].product_id)  # one catalogue
    alone = synthetic.generate(1000, random_state=7)
    same = ["created_at", "region", "acquisition_channel", "acquisition_cost"]
    pd.testing.assert_frame_equal(parts[0].tables["customers"][same],
                                  alone.tables["customers"][same])
    assert parts[0].tables["customers"].customer_id[0] == "C0000001"  # part 0, customer 1
    assert alone.tables["customers"].customer_id[0] == "C000001"


def test_no_timestamp_after_as_of_where_forbidden(synth):
    future_ok = {("consents", "expires_at"), ("subscriptions", "end_at")}
    for name, df in synth.tables.items():
        for col in df.select_dtypes("datetime").columns:
            if (name, col) not in future_ok:
                assert not (df[col] > synth.as_of).any(), f"{name}.{col}"
    assert (synth.tables["subscriptions"].end_at > synth.as_of).any()
    assert (synth.tables["consents"].expires_at > synth.as_of).any()


def test_every_table_passes_validation(synth):
    for name, df in synth.tables.items():
        clean, repairs = validate(df, name, as_of=synth.as_of)
        assert len(clean) == len(df)
        done = repairs[repairs.rows > 0]
        if name == "customers":
            assert done.repair.tolist() == ["e-mail trimmed and lower-cased"]
        else:
            assert done.empty, (name, done)


def test_created_at_is_the_first_purchase(synth, purchases):
    first = purchases.groupby("customer_id").ts.min()
    created = synth.tables["customers"].set_index("customer_id").created_at
    pd.testing.assert_series_equal(first.sort_index(), created.sort_index(), check_names=False)
    span = created.max() - created.min()
    assert span > pd.Timedelta(days=650)
    assert created.dt.normalize().value_counts().max() < 0.01 * N


def test_repeat_purchases_follow_the_bgnbd_truth(synth, purchases):
    truth = synth.truth.customers.set_index("customer_id")
    repeats = purchases.groupby("customer_id").size() - 1
    pd.testing.assert_series_equal(repeats.sort_index(), truth.n_repeat.sort_index(),
                                   check_names=False)
    lam_p = truth.lam * truth.p_drop
    expected = ((1 - np.exp(-lam_p * truth.T_weeks)) / truth.p_drop).sum()
    assert truth.n_repeat.sum() == pytest.approx(expected, rel=0.05)
    assert not truth.dropout_at[truth.n_repeat == 0].notna().any()
    assert purchases.groupby(["customer_id", purchases.ts.dt.normalize()]).size().max() == 1
    last = purchases.groupby("customer_id").ts.max()
    dropped = truth.dropout_at.dropna()
    assert (last[dropped.index] == dropped).all()      # nobody buys after dropping out
    b = synth.truth.bgnbd
    assert b["time_unit"] == "W" and truth.lam.mean() == pytest.approx(b["r"] / b["alpha"], rel=0.1)


def test_spend_follows_the_gamma_gamma_truth(synth, purchases):
    truth = synth.truth.customers.set_index("customer_id")
    mean = purchases.customer_id.map(truth.spend_mean)
    assert purchases.amount.sum() / mean.sum() == pytest.approx(1, abs=0.03)
    gg = synth.truth.gamma_gamma
    np.testing.assert_allclose(truth.spend_mean, gg["p"] / truth.nu)
    assert 100 <= purchases.amount.mean() <= 200
    counts = purchases.groupby("customer_id").amount.agg(["mean", "size"])
    many = counts[counts["size"] >= 4]
    assert np.corrcoef(many["mean"], truth.spend_mean[many.index])[0, 1] > 0.5


def test_returns_are_negative_rows_after_their_purchase(synth):
    tx = synth.tables["transactions"].set_index("transaction_id")
    ret = synth.truth.returns
    assert 0.02 < len(ret) / len(tx) < 0.1
    back, bought = tx.loc[ret.transaction_id], tx.loc[ret.purchase_id]
    assert (back.amount.to_numpy() < 0).all()
    assert (-back.amount.to_numpy() <= bought.amount.to_numpy()).all()
    assert (back.ts.to_numpy() > bought.ts.to_numpy() + np.timedelta64(1, "D")).all()
    assert (back.customer_id.to_numpy() == bought.customer_id.to_numpy()).all()
    assert (back.product_id.to_numpy() == bought.product_id.to_numpy()).all()
    assert set(tx.channel) == {"web", "store"}


def _stage_at(events, cut):
    """Highest intent stage per person from events in the 30 days before ``cut``."""
    window = events[(events.ts >= cut - 30 * DAY) & (events.ts < cut)]
    known = events.dropna(subset=["customer_id"]).groupby("anonymous_id").customer_id.first()
    person = window.customer_id.fillna(window.anonymous_id.map(known))
    person = person.fillna(window.anonymous_id)
    do = window.event_type.isin(["add_to_cart", "checkout", "store_locator", "price_check"])
    think = window.event_type.isin(["category_view", "content_read", "newsletter_signup",
                                    "search", "product_view"])
    level = np.where(do, 2, np.where(think, 1, 0))
    return pd.Series(level, index=person.to_numpy()).groupby(level=0).max()


def test_do_behaviour_predicts_purchases_better_than_think_and_see(synth, purchases):
    cut = synth.as_of - 7 * DAY
    stage = _stage_at(synth.tables["events"], cut)
    everyone = synth.tables["customers"].customer_id
    stage = stage.reindex(stage.index.union(pd.Index(everyone)), fill_value=0)
    buyers = purchases.customer_id[purchases.ts >= cut].unique()
    rate = pd.Series(stage.index.isin(buyers)).groupby(stage.to_numpy()).mean()
    assert rate[2] > 2 * rate[1] and rate[1] > 1.5 * rate[0], rate  # about 15 %, 5 %, 1.3 %


def test_latent_intent_orders_next_week_purchases(synth):
    intent = synth.truth.intent
    assert len(intent) == 2 * N and intent.is_customer.sum() == N
    soon = intent.next_purchase_at < synth.as_of + 7 * DAY
    rate = soon.groupby(intent.stage, observed=True).mean()
    assert rate["do"] > rate["think"] > rate["see"]
    assert (intent.next_purchase_at.dropna() >= synth.as_of).all()


def test_customer_id_is_null_until_the_first_login_on_a_device(synth):
    ev = synth.tables["events"].sort_values("ts", kind="stable")
    shared = set(synth.truth.shared_devices.anonymous_id)
    own = ev[~ev.anonymous_id.isin(shared)]
    known = own.customer_id.notna().astype(int)
    assert (known.groupby(own.anonymous_id).diff().fillna(0) >= 0).all()  # once known, stays
    first = own[own.customer_id.notna()].groupby("anonymous_id").head(1)
    assert (first.event_type == "login").all()
    assert own.groupby("anonymous_id").customer_id.nunique().max() == 1
    stitched = own[own.customer_id.notna()].anonymous_id.unique()
    before = own[own.anonymous_id.isin(stitched) & own.customer_id.isna()]
    assert len(before) > 0                                   # anonymous history to stitch
    visitors = ~ev.anonymous_id.isin(set(ev.anonymous_id[ev.customer_id.notna()]))
    assert ev.anonymous_id[visitors].nunique() > 0.5 * N    # visitors who never become customers


def test_shared_devices_are_the_listed_ones(synth):
    shared = synth.truth.shared_devices
    assert len(shared) == 2 * _rounded(synth, 0.005)
    assert (shared.groupby("anonymous_id").customer_id.nunique() == 2).all()
    ev = synth.tables["events"].dropna(subset=["customer_id"])
    many = ev.groupby("anonymous_id").customer_id.nunique()
    assert set(many[many > 1].index) <= set(shared.anonymous_id)
    assert (many > 1).sum() > 0


def test_dirty_emails_are_present_at_the_stated_counts(synth):
    customers = synth.tables["customers"].set_index("customer_id")
    dirty = synth.truth.emails
    counts = dirty.issue.value_counts()
    for issue, share in synthetic._EMAIL_ISSUES.items():
        assert counts[issue] == _rounded(synth, share), issue
    email = customers.email
    assert email.isna().sum() == counts["missing"]
    norm = email.str.strip().str.lower()
    assert norm.duplicated().sum() - (email.isna().sum() - 1) == counts["duplicate"]
    syntax = r"[^@\s.]+(\.[^@\s.]+)*@[^@\s.]+(\.[^@\s.]+)+"
    assert (~norm.dropna().str.fullmatch(syntax)).sum() == counts["invalid"]
    role = norm.str.match(r"(info|sales|admin|office|support|myynti|kontakt|post)@")
    assert role.sum() == counts["role"]
    disposable = norm.str.split("@").str[-1].isin(synthetic._DISPOSABLE)
    assert disposable.sum() == counts["disposable"]
    listed = dirty.set_index("customer_id")
    spaces = email.dropna() != email.dropna().str.strip()
    assert set(spaces[spaces].index) == set(listed.index[listed.issue == "whitespace"])
    upper = email.dropna().str.strip() != norm.dropna()
    duplicates = _part(dirty.customer_id[dirty.issue == "duplicate"]).value_counts()
    assert upper.sum() == counts["upper_case"] + (duplicates // 2).sum()  # half title-cased


def test_channel_effects_are_known_and_set_apart_from_exposure(synth):
    ch = synth.truth.channels.set_index("channel")
    tp = synth.tables["touchpoints"]
    assert len(ch) >= 7 and set(tp.channel) == set(ch.index)
    assert set(tp.interaction) == {"impression", "click", "visit"}
    best, most_seen = ch.effect.idxmax(), ch.share_of_touches.idxmax()
    # the most effective channel is rarely seen, the most seen one hardly works: credit that
    # follows exposure is wrong here, credit that follows marginal effect is right
    assert ch.effect[most_seen] == ch.effect.min()
    assert ch.share_of_touches[best] < ch.share_of_touches.median()
    assert ch.shapley_share[best] > 2 * ch.share_of_touches[best]
    assert ch.shapley_share[most_seen] < ch.share_of_touches[most_seen] / 3
    assert ch.shapley_share.sum() == pytest.approx(1)
    observed = tp.channel.value_counts(normalize=True)
    assert observed[most_seen] == pytest.approx(ch.share_of_touches[most_seen], abs=0.03)
    assert (tp.cost >= 0).all() and tp.person_id.notna().all()


def test_converting_journeys_end_at_purchases(synth, purchases):
    journeys = synth.truth.journeys
    assert journeys.n_touches.sum() == len(synth.tables["touchpoints"])
    won = journeys[journeys.converted]
    bought = set(zip(purchases.customer_id, purchases.ts, strict=True))
    assert all(pair in bought for pair in zip(won.person_id, won.end_at, strict=True))
    lost = journeys[~journeys.converted & journeys.person_id.str.startswith("C")]
    near = lost.merge(purchases[["customer_id", "ts"]], left_on="person_id",
                      right_on="customer_id")
    assert len(lost) > 0 and not ((near.ts - near.end_at).abs() <= 30 * DAY).any()
    visitors = journeys[journeys.person_id.str.startswith("A")]
    assert len(visitors) > 0 and not visitors.converted.any()
    assert 0.1 < journeys.converted.mean() < 0.5


def test_control_group_gets_no_welcome_messages(synth):
    truth = synth.truth.customers.set_index("customer_id")
    ch = synth.tables["contact_history"]
    control = ch[ch.cell_id == "control"].customer_id
    assert set(control) <= set(truth.index[truth.welcome_group == "control"])
    welcome = synth.tables["messages"]
    welcome = welcome[welcome.campaign_id == "welcome"]
    assert not welcome.customer_id.isin(control).any()
    assert welcome.customer_id.isin(ch[ch.cell_id != "control"].customer_id).all()
    share = (truth.welcome_group == "control").sum() / truth.welcome_group.notna().sum()
    assert share == pytest.approx(0.10, abs=0.02)
    assert (ch.planned_at <= synth.as_of).all()


def test_messages_are_bounded_and_ab_rates_match_the_truth(synth):
    msg = synth.tables["messages"]
    assert len(msg) <= 10 * N
    assert msg.bounce.isin(["hard", "soft"]).any() and msg.unsubscribed_at.notna().any()
    assert (msg.opened_at.dropna() >= msg.sent_at[msg.opened_at.notna()]).all()
    delivered = msg[msg.delivered]
    # prefetching mail apps: an open minutes after every delivery to about 30 % of recipients
    fetchers = set(delivered.customer_id[delivered.machine_open])
    assert 0.25 < len(fetchers) / delivered.customer_id.nunique() < 0.35
    fetched = delivered[delivered.customer_id.isin(fetchers)]
    assert fetched.opened_at.notna().all()
    assert (fetched.opened_at - fetched.sent_at).max() <= pd.Timedelta(minutes=15)
    assert not msg.machine_open[msg.opened_at.isna()].any()
    seen = delivered[~delivered.customer_id.isin(fetchers)]  # the truth's rates are theirs
    ab = synth.truth.ab_tests
    for row in ab.itertuples():
        sent = (seen if row.metric == "open_rate" else delivered).query("cell_id == @row.cell_id")
        hit = sent.opened_at if row.metric == "open_rate" else sent.clicked_at
        assert hit.notna().mean() == pytest.approx(row.true_rate, abs=0.05), row
    winners = ab[ab.winner]
    assert set(zip(winners.cell_id, winners.metric, strict=True)) == {
        ("welcome_thank_B", "open_rate"), ("welcome_thank_B", "click_rate"),
        ("welcome_guide_B", "click_rate")}
    news = seen[seen.campaign_id == "newsletter"]
    assert news.cell_id.nunique() >= 10 and 0.15 < news.opened_at.notna().mean() < 0.35


def test_welcome_moves_store_purchases_by_the_stated_amount(synth, purchases):
    truth = synth.truth.customers.set_index("customer_id")
    control = synth.truth.control
    assert control["expected_store_revenue_lift_per_treated"] > 5
    assert control["realised_store_revenue_lift_per_treated"] == pytest.approx(
        control["expected_store_revenue_lift_per_treated"], rel=0.3)
    created = synth.tables["customers"].set_index("customer_id").created_at
    p = purchases.assign(group=purchases.customer_id.map(truth.welcome_group),
                         since=purchases.ts - purchases.customer_id.map(created))
    window = p[(p.since > pd.Timedelta(0)) & (p.since <= 90 * DAY)]
    share = (window.channel == "store").groupby(window.group, observed=True).mean()
    assert share["treated"] - share["control"] == pytest.approx(0.2 * 0.9, abs=0.12)


def test_consents_permissions_and_subscriptions(synth):
    c = synth.tables["consents"]
    assert {"email", "sms", "push", "ads"} <= set(c.channel)
    visit = c[c.purpose == "store_visit"]
    two_hours = (visit.expires_at - visit.granted_at - pd.Timedelta(hours=2)).abs()
    assert len(visit) > 0 and (two_hours < pd.Timedelta(seconds=1)).all()
    assert c.revoked_at.notna().any()
    assert (c.revoked_at.dropna() >= c.granted_at[c.revoked_at.notna()]).all()
    s = synth.tables["subscriptions"]
    months = ((s.end_at - s.start_at) / pd.Timedelta(days=30.4375)).round()
    assert set(months) == {12, 24}
    truth = synth.truth.customers.set_index("customer_id")
    churned = truth.index[truth.churned]
    last_end = s.groupby("customer_id").end_at.max()
    assert len(churned) > 0 and (last_end[churned] < synth.as_of).all()
    f = synth.tables["feedback"]
    assert set(f.kind) == set(TABLES["feedback"].column("kind").choices)
    nps = f[f.kind == "nps"].score
    assert nps.between(0, 10).all() and f[f.kind == "service_contact"].score.isna().all()


def test_bad_size_is_refused():
    with pytest.raises(ValueError, match="n_customers"):
        synthetic.generate(0)


def test_regions_and_stores_are_nordic(synth):
    c = synth.tables["customers"]
    assert {"Uusimaa", "Stockholm", "Oslo", "Hovedstaden"} <= set(c.region)
    assert c.home_store.notna().mean() > 0.8
    assert (c.acquisition_cost >= 0).all()
    cost = c.groupby("acquisition_channel", observed=True).acquisition_cost.mean()
    assert cost["paid_search"] > cost["organic_search"] > cost["direct"]
    assert re.fullmatch(r"T\d{8,9}", synth.tables["transactions"].transaction_id.iloc[0])


def test_progress_bar_is_shown_on_request(capsys):
    synthetic.generate(50, random_state=1, progress=True)
    assert "demo data" in capsys.readouterr().err
    synthetic.generate(50, random_state=1)
    assert "demo data" not in capsys.readouterr().err


def test_the_campaign_tables_hold_every_cell_the_programs_use(synth):
    t = synth.tables
    campaigns.check({name: t[name] for name in ("campaigns", "cells", "offers")})
    used = {c for p, _ in programs.PROGRAMS.values() for c in p.cell_table().cell_id}
    assert set(t["cells"].cell_id) == used >= set(t["contact_history"].cell_id)
    assert set(t["campaigns"].campaign_id) == {p.campaign_id for p, _ in
                                               programs.PROGRAMS.values()}
    cells = t["cells"].set_index("cell_id")
    assert (cells.cost[cells.channel == "sms"] > 0.05).all()  # an SMS costs more to send
    held = cells.exclude_constraints & cells.exclude_policies
    assert (held == (cells.expected_value == 0)).all()  # the control cells, and only they
