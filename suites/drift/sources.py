"""Where the new data comes from: a table in memory, or a Parquet file read column by column
(by whoever tests the column: a Ray worker reads only its own)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from certify.errors import DataError


class FrameSource:
    """New data held in memory."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame_ = frame
        self.columns = [str(c) for c in frame.columns]
        self.rows = len(frame)

    def dtype(self, name: str) -> str:
        return str(self.frame_[name].dtype)

    def series(self, name: str) -> pd.Series:
        return self.frame_[name]

    def frames(self, names: list[str], batch_rows: int = 0) -> Iterator[pd.DataFrame]:
        yield self.frame_[names]

    def handle(self, name: str) -> pd.Series | ParquetColumn:
        return self.frame_[name]


@dataclass(frozen=True)
class ParquetColumn:
    """One column of a Parquet file, read where it is used (a Ray worker)."""

    path: str
    name: str

    def read(self) -> pd.Series:
        return pd.read_parquet(self.path, columns=[self.name])[self.name]


class ParquetSource:
    """New data in a Parquet file: columns are read one at a time, by whoever tests them."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.path = path
        try:
            self._file = pq.ParquetFile(path)
        except Exception as exc:  # noqa: BLE001 - any reader failure is a data error
            raise DataError(f"--data: cannot read {path}: {exc}") from None
        arrow = self._file.schema_arrow
        self.columns = [str(n) for n in arrow.names]
        self.rows = int(self._file.metadata.num_rows)
        self._dtypes = {str(k): str(v) for k, v in arrow.empty_table().to_pandas().dtypes.items()}
        if self.rows == 0:
            raise DataError(f"--data: {path} has no rows")

    def dtype(self, name: str) -> str:
        return self._dtypes[name]

    def series(self, name: str) -> pd.Series:
        return ParquetColumn(str(self.path), name).read()

    def frames(self, names: list[str], batch_rows: int = 65536) -> Iterator[pd.DataFrame]:
        for batch in self._file.iter_batches(columns=names, batch_size=batch_rows or 65536):
            yield batch.to_pandas()

    def handle(self, name: str) -> pd.Series | ParquetColumn:
        return ParquetColumn(str(self.path), name)


Source = FrameSource | ParquetSource
