"""The same analytics on Spark: the 2,000-customer demo loaded into a local Spark session
through ``Workspace.connect(ibis.pyspark.connect(...))`` gives the results DuckDB gives:
the purchase summaries (days and weeks), RFM and the whole CLV pipeline in hash buckets.

Needs the ``spark`` extra (PySpark below 4.1, which ibis 12 supports) and a Java runtime;
``make test`` installs both. Results are compared sorted, with explicit tie-breakers.
"""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from lifecycle import Workspace, clv, rfm
from lifecycle.clv import summaries

pytestmark = pytest.mark.spark

TABLES = ("customers", "transactions")


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
    a = duck.sort_values(keys, ignore_index=True)
    b = spark[list(duck.columns)].sort_values(keys, ignore_index=True)
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
