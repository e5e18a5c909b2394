"""The demo's campaigns as data: one campaign per lifecycle program, all in the campaign group
``lifecycle``; a cell per communication package and channel (from the programs' own
definitions, :meth:`lifecycle.programs.Program.cell_table`); the offers; two contact policies;
and the limits of a day's run, scaled to the number of customers (:func:`action_tables`):
a budget for the group, and caps on the two campaigns that send the most, so that the
campaigns compete and prioritization has something to decide.

The money is the demo's stated assumption, not something the data implies: an e-mail costs
EUR 0.004 to send and an SMS EUR 0.06; a discount offer costs its discount on the expected
basket as well (:data:`_OFFERS`); each cell's expected value per contact is what a planner
would write into a campaign tool from earlier campaigns (:data:`_VALUE`). A cell on SMS is
expected to be worth 1.3 times its e-mail twin (an SMS is read). Control cells cost nothing,
earn nothing and are exempt from limits and policies.
"""

from __future__ import annotations

import pandas as pd

from lifecycle.schema import TABLES

_SEND_COST = {"email": 0.004, "sms": 0.06}
_SMS_LIFT = 1.3

#: offer_id: name, discount (share of the price), cost per contact on top of the send (EUR)
_OFFERS = {
    "member_benefits": ("Member benefits", 0.0, 0.0),
    "store_guide": ("Guide to our stores and web shop", 0.0, 0.0),
    "surprise_voucher": ("Surprise: EUR 5 voucher", 0.0, 0.60),
    "add_on_full_price": ("Accessory for your phone", 0.0, 0.0),
    "add_on_discount_10": ("Accessory for your phone, 10 % off", 0.10, 0.35),
    "add_on_discount_20": ("Accessory for your phone, 20 % off", 0.20, 0.70),
    "renewal_normal_price": ("Renew at the normal price", 0.0, 0.0),
    "renewal_discount": ("Renew with 15 % off for a year", 0.15, 2.40),
    "renewal_best_offer": ("Renew with 30 % off for a year", 0.30, 4.80),
    "renewal_best_plus": ("Renew with 30 % off and a free accessory", 0.30, 7.20),
    "winback_voucher": ("Come back: EUR 10 voucher", 0.0, 0.90),
}

#: cell_id (the e-mail cell): expected value per contact (EUR, margin)
_VALUE = {
    "welcome_thank_A": 1.10, "welcome_thank_B": 1.25, "welcome_guide_A": 1.60,
    "welcome_guide_B": 1.45, "welcome_surprise": 2.40,
    "cross_sell_low": 1.20, "cross_sell_medium": 2.10, "cross_sell_high": 3.40,
    "survey_3_months": 0.30,
    "retention_normal": 6.50, "retention_discount": 9.00, "retention_best": 11.50,
    "retention_best_plus": 8.00,
    "reactivation_no_opens": 0.40, "reactivation_winback": 2.80, "reactivation_resend": 0.35,
}

_PRIORITY = {"retention": 1, "welcome": 2, "cross_sell": 3, "reactivation": 4, "survey": 5}
_NAMES = {"welcome": "Welcome", "cross_sell": "Cross-sell: phone accessories",
          "survey": "Three-month survey", "retention": "Contract renewal",
          "reactivation": "Reactivation triggers"}


def action_tables(as_of: pd.Timestamp, customers: int = 50_000) -> dict[str, pd.DataFrame]:
    """``campaigns``, ``cells``, ``offers``, ``contact_policies`` and ``constraints`` of the
    demo of ``customers`` customers. A day's run may spend EUR 12 per thousand customers
    (about half of what the programs would select on the demo's last day), send at most
    60 reactivation messages per thousand customers, and at most 0.4 retention SMS with the
discount offer per thousand."""
    from lifecycle import programs

    chosen = [program for program, _ in programs.PROGRAMS.values()]
    cells = pd.concat([p.cell_table().assign(_share=p.control_share, _entry=[
        p.step(s).after is None for s in p.cell_table().step]) for p in chosen],
        ignore_index=True)
    base = cells.cell_id.str.removesuffix("_sms")
    sms = cells.channel == "sms"
    offer_cost = cells.offer_id.map({k: v[2] for k, v in _OFFERS.items()}).fillna(0.0)
    value = base.map(_VALUE).where(~sms, base.map(_VALUE) * _SMS_LIFT)
    cells = cells.assign(
        cost=(cells.channel.map(_SEND_COST) + offer_cost).where(~cells.control, 0.0).round(3),
        expected_value=value.where(~cells.control, 0.0).round(2),
        priority=cells.campaign_id.map(_PRIORITY).astype("float64"),
        mandatory=False, exclude_constraints=cells.control, exclude_policies=cells.control,
        control_share=cells._share.where(cells._entry & ~cells.control, 0.0))
    campaigns = pd.DataFrame({
        "campaign_id": [p.campaign_id for p in chosen], "group_id": "lifecycle",
        "program": [p.name for p in chosen], "name": [_NAMES[p.name] for p in chosen],
        "start_at": pd.Timestamp(as_of) - pd.DateOffset(years=2), "end_at": pd.NaT})
    offers = pd.DataFrame([(k, name, discount) for k, (name, discount, _) in _OFFERS.items()],
                          columns=["offer_id", "name", "discount"])
    policies = pd.DataFrame({
        "policy_id": ["email_week", "sms_week"], "max_contacts": [4.0, 1.0],
        "channel": ["email", "sms"], "window_days": [7.0, 7.0]})
    per = customers / 1000
    constraints = pd.DataFrame({
        "level": ["group", "campaign", "cell"], "id": ["lifecycle", "reactivation",
                                                      "retention_discount_sms"],
        "max_count": [None, round(60 * per), round(0.4 * per)],
        "max_cost": [round(12 * per, 2), None, None]})
    return {name: _typed(name, frame) for name, frame in (
        ("campaigns", campaigns), ("cells", cells), ("offers", offers),
        ("contact_policies", policies), ("constraints", constraints))}


def _typed(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame in its table's column order and the demo's types (absent columns null)."""
    dtypes = {"id": "string", "string": "string", "timestamp": "datetime64[us]",
              "float": "float64", "bool": "bool"}
    columns = TABLES[name].columns
    return pd.DataFrame({c.name: (frame[c.name] if c.name in frame else
                                  pd.Series(None, index=frame.index)).astype(dtypes[c.kind])
                         for c in columns})
