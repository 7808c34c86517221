"""Benchmark: a monthly retrain of every specification on the 500k-member lake, its as-of months'
features already in the feature store (as the monthly runs that scored them leave them). See
bench_train.py, which this runs in ``retrain`` mode after it."""

from __future__ import annotations

import sys

from bench_train import main

if __name__ == "__main__":
    sys.argv[1:] = ["retrain"]
    main()
