"""Datasets: the embedded HIGGS sample and loaders for the benchmark data folder."""

from ._base import DATASETS, data_home, load_dataset, load_higgs, read_higgs_rows

__all__ = ["DATASETS", "data_home", "load_dataset", "load_higgs", "read_higgs_rows"]
