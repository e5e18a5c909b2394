"""The workshop app: the sliders and toggles move the ranking; reset restores it in one redraw."""

import re

import numpy as np
import pandas as pd

from lifecycle.ui.value import DOWN, build_value_app
from lifecycle.value import CRITERIA


def measures(n=60, seed=1):
    rng = np.random.default_rng(seed)
    data = {c: rng.gamma(2.0, 1.0, n) for c in CRITERIA.criterion}
    return pd.DataFrame({"customer_id": [f"c{i:02d}" for i in range(n)], **data})


def _filters(app):
    bar = app.children[1]
    grid, (top, reset) = bar.children[0], bar.children[1].children
    pairs = [w for row in grid.children for w in row.children]
    sliders = {s._dom_classes[0].removeprefix("weight-"): s for s in pairs[::2]}
    toggles = {t._dom_classes[0].removeprefix("direction-"): t for t in pairs[1::2]}
    return sliders, toggles, top, reset


def _card(app, name) -> float:
    html = app.panel.content["blocks"][0]["html"]
    return float(re.search(rf'lc-card-{name}" data-value="([^"]+)"', html).group(1))


def _ranked(app) -> list[str]:
    table = next(b for b in app.panel.content["blocks"] if b["name"] == "ranking")["html"]
    return re.findall(r"<td>(c\d\d)</td>", table)


def test_weights_and_directions_move_the_ranking_and_reset_restores_it():
    m = measures()
    app = build_value_app(m, top=10, segments=pd.Series("Champions", index=m.customer_id))
    sliders, toggles, top, reset = _filters(app)
    assert list(sliders) == CRITERIA.criterion.tolist() == list(toggles)
    assert _card(app, "kept") == 10
    start, draws = _ranked(app), []
    app.panel.observe(lambda change: draws.append(change), names="content")
    with app.batch():
        for name, slider in sliders.items():
            slider.value = 5.0 if name == "margin" else 0.0
    assert len(draws) == 1  # one redraw for the whole batch
    assert _ranked(app) == m.nlargest(10, "margin").customer_id.tolist()
    assert _card(app, "kept") < 10
    toggles["margin"].value = DOWN
    assert _ranked(app) == m.nsmallest(10, "margin").customer_id.tolist()
    draws.clear()
    reset.click()
    assert len(draws) == 1 and _ranked(app) == start and _card(app, "kept") == 10
    top.value = 20
    assert len(_ranked(app)) == 20 and _card(app, "top") == 20
