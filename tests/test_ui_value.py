import numpy as np
import pandas as pd

from lifecycle.ui.value import build_value_app
from lifecycle.value import CRITERIA


def _parts(app):
    (controls, table), summary, figure = app.children[0].children, *app.children[1:]
    sliders = {s._dom_classes[0].removeprefix("weight-"): s for s in controls.children[1:-1]}
    return sliders, controls.children[-1], table, summary, figure


def measures(n=60, seed=1):
    rng = np.random.default_rng(seed)
    data = {c: rng.gamma(2.0, 1.0, n) for c in CRITERIA.criterion}
    return pd.DataFrame(data, index=pd.Index([f"c{i:02d}" for i in range(n)],
                                             name="customer_id"))


def test_sliders_move_the_ranking_live_and_reset_restores_it():
    m = measures()
    app = build_value_app(m, top=10)
    sliders, reset, table, summary, figure = _parts(app)
    assert list(sliders) == CRITERIA.criterion.tolist()
    assert "<b>10</b> kept" in summary.value
    before_table = table.value
    before_y = list(figure.data[0].y)
    for name, slider in sliders.items():
        slider.value = 5.0 if name == "margin" else 0.0
    assert "<b>10</b> kept" not in summary.value
    top_by_margin = m.margin.nlargest(10).index
    assert all(f"<td>{c}</td>" in table.value for c in top_by_margin)
    margin_trace = next(t for t in figure.data if t.name == "margin")
    assert sum(margin_trace.x) > 90 * 10 * 0.9  # margin carries the whole score now
    assert list(figure.data[0].y) != before_y  # the chart shows the new top customers
    reset.click()
    assert table.value == before_table and "<b>10</b> kept" in summary.value
