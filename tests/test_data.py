from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from certify.data import infer_schema, load_dataset, load_table
from certify.demo import SEED, make_credit_data
from certify.errors import DataError


@pytest.fixture
def frames(tmp_path: Path):
    ref = make_credit_data(300, SEED)
    ev = make_credit_data(200, SEED + 1)
    ref.to_csv(tmp_path / "ref.csv", index=False)
    ev.to_parquet(tmp_path / "ev.parquet")
    return tmp_path, ref, ev


def test_schema_inferred_from_reference(frames) -> None:
    root, ref, _ = frames
    ds = load_dataset(root / "ref.csv", root / "ev.parquet", target="default", sensitive=["income"])
    schema = ds.schema
    assert schema.task == "classification"
    assert schema.classes == [0, 1]
    assert schema.features == [c for c in ref.columns if c != "default"]
    age = schema.column("age")
    assert age.kind == "numeric" and age.min == ref["age"].min() and age.max == ref["age"].max()
    purpose = schema.column("purpose")
    assert purpose.kind == "categorical" and "business" in purpose.categories
    assert schema.column("income").sensitive
    assert ds.reference_digest.startswith("sha256:") and ds.reference_digest != ds.evaluation_digest


def test_regression_inferred() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0] * 20, "y": [0.5 * i for i in range(60)]})
    assert infer_schema(frame, target="y").task == "regression"


def test_overrides(frames) -> None:
    from certify.policy import ColumnOverride

    _, ref, _ = frames
    schema = infer_schema(ref, target="default", overrides={"age": ColumnOverride(min=18, max=99)})
    assert (schema.column("age").min, schema.column("age").max) == (18, 99)
    with pytest.raises(DataError, match="'agee' is not a feature column"):
        infer_schema(ref, target="default", overrides={"agee": ColumnOverride(min=1)})


def test_missing_target(frames) -> None:
    root, ref, _ = frames
    ref.drop(columns="default").to_csv(root / "notarget.csv", index=False)
    with pytest.raises(DataError, match=r"data.reference .*notarget.csv.*target column 'default' not found"):
        load_dataset(root / "notarget.csv", root / "ev.parquet", target="default")


def test_evaluation_missing_feature(frames) -> None:
    root, _, ev = frames
    ev.drop(columns="age").to_csv(root / "ev2.csv", index=False)
    with pytest.raises(DataError, match=r"data.evaluation .*ev2.csv.*feature column 'age' not found"):
        load_dataset(root / "ref.csv", root / "ev2.csv", target="default")


def test_empty_data(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"data.reference: .*empty.csv is empty"):
        load_table(tmp_path / "empty.csv", "data.reference")
    (tmp_path / "header.csv").write_text("a,b,default\n")
    with pytest.raises(DataError, match="has no rows"):
        load_table(tmp_path / "header.csv", "data.evaluation")


def test_single_class_target(frames) -> None:
    root, ref, _ = frames
    ref.assign(default=1).to_csv(root / "one.csv", index=False)
    with pytest.raises(DataError, match="single class"):
        load_dataset(root / "one.csv", root / "ev.parquet", target="default")


def test_unsupported_format(tmp_path: Path) -> None:
    (tmp_path / "x.xlsx").write_bytes(b"x")
    with pytest.raises(DataError, match="unsupported data format '.xlsx'"):
        load_table(tmp_path / "x.xlsx")
