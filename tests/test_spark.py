"""The same analytics on Spark: the 2,000-customer demo loaded into a local Spark session
through ``Workspace.connect(ibis.pyspark.connect(...))`` gives the results DuckDB gives:
the purchase summaries (days and weeks), RFM, the whole CLV pipeline in hash buckets, the
conversion journeys and the See / Think / Do / Care stages.

Needs the ``spark`` extra (PySpark below 4.1, which ibis 12 supports) and a Java runtime;
``make test`` installs both. Results are compared sorted, with explicit tie-breakers.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from lifecycle import Workspace, attribution, audiences, clv, rfm
from lifecycle.clv import summaries

pytestmark = pytest.mark.spark

TABLES = ("customers", "transactions", "events", "touchpoints")


@pytest.fixture(scope="module")
def spark_ws(demo, tmp_path_factory):
    from pyspark import sql as pyspark  # the spark extra: a missing install fails here

    folder = tmp_path_factory.mktemp("spark")
    session = (pyspark.SparkSession.builder.master("local[2]").appName("lifecycle-tests")
               .config("spark.sql.shuffle.partitions", "4").config("spark.ui.enabled", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.warehouse.dir", str(folder / "warehouse"))
               .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={folder}")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    ws = Workspace.connect(ibis.pyspark.connect(session))
    for kind in TABLES:
        ws.load(kind, demo.table(kind).execute(), as_of=demo.as_of)
    yield ws
    session.stop()


def _same(duck: pd.DataFrame, spark: pd.DataFrame, keys: list[str]) -> None:
    def tidy(frame):  # Spark's timestamps come in nanoseconds, DuckDB's in microseconds
        stamps = frame.select_dtypes("datetime").columns
        return frame.astype(dict.fromkeys(stamps, "datetime64[ns]")).sort_values(
            keys, ignore_index=True)
    a, b = tidy(duck), tidy(spark[list(duck.columns)])
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_categorical=False,
                                  check_exact=False, rtol=1e-9)


def test_summary_and_rfm_match(demo, spark_ws):
    as_of = demo.as_of
    for unit in ("D", "W"):
        _same(clv.summary(demo.table("transactions"), as_of=as_of, time_unit=unit).execute(),
              clv.summary(spark_ws.table("transactions"), as_of=as_of,
                          time_unit=unit).execute(), ["customer_id"])
    _same(rfm.rfm(demo.table("transactions"), as_of=as_of).execute(),
          rfm.rfm(spark_ws.table("transactions"), as_of=as_of).execute(), ["customer_id"])


def test_bucketed_customer_value_matches(demo, spark_ws, monkeypatch):
    monkeypatch.setattr(summaries, "_ROWS_PER_PASS", 2_000)  # several hash buckets
    duck = clv.customer_value(demo.table("transactions"), as_of=demo.as_of)
    spark = clv.customer_value(spark_ws.table("transactions"), as_of=demo.as_of)
    assert len(spark) == len(duck) and spark.customer_id.is_unique
    _same(duck, spark, ["customer_id"])


def test_journeys_match(demo, spark_ws):
    def paths(ws):
        conversions = attribution.conversions(ws.table("transactions"))
        out = attribution.journeys(ws.table("touchpoints"), conversions, lookback_days=30,
                                   as_of=demo.as_of).execute()
        return out.drop(columns=["path", "days_before"])  # lists: compared as path_text
    duck, spark = paths(demo), paths(spark_ws)
    assert len(duck) > 1000 and duck.converted.sum() > 500
    keys = ["person_id", "first_touch_at", "converted", "path_text"]
    # Spark's epoch seconds are whole seconds: durations agree to the second
    days = [f.sort_values(keys).days_to_conversion.to_numpy() for f in (duck, spark)]
    np.testing.assert_allclose(*days, rtol=0, atol=1 / 86_400)
    _same(duck.drop(columns="days_to_conversion"), spark, keys)


def test_stages_match(demo, spark_ws):
    def staged(ws):
        return audiences.stages(ws.table("events"), ws.table("transactions"),
                                as_of=demo.as_of).execute()
    duck, spark = staged(demo), staged(spark_ws)
    assert set(duck.stage) == {"see", "think", "do", "care"}
    assert duck.customer_id.isna().sum() > 1000  # anonymous visitors are people too
    _same(duck, spark, ["person_id"])
