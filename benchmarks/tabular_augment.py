"""Tabular augment-stage benchmark: new rows per second of augmill's augment stage, per
generator, on a generated 100,000-row table with a rare class (2 %, as in fraud data);
also the table's rows per second (the stage reads and plans over the whole table).

The stage's own work is timed: reading the raw manifest and the plan, learning the
schema, fitting the generator on the rare class and making its rows, hashing and writing
them. Importing imbalanced-learn (once per process) is timed apart. The
explore and bias stages run first (untimed) to give it its inputs. One worker: the rare
class is the only one that gets rows, and a class is one unit of work.

Run by hand, from the project root, on an otherwise idle machine:

    .venv/bin/python benchmarks/tabular_augment.py                 # 100,000 rows
    .venv/bin/python benchmarks/tabular_augment.py --rows 20000    # a quick look
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# (generator config, table kind): each generator on a table whose columns it fits.
RUNS = [
    ({"name": "smote", "k_neighbors": 5}, "numeric"),
    ({"name": "smotenc", "k_neighbors": 5}, "mixed"),
    ({"name": "smoten", "k_neighbors": 5}, "categorical"),
    ({"name": "gaussian_jitter", "scale": 0.1}, "mixed"),
    ({"name": "gaussian_copula", "shrinkage": 0.1}, "mixed"),
]


def make_table(rows: int, rare_share: float, kind: str, seed: int = 0) -> pd.DataFrame:
    """Transactions: amounts, counts and ratios that shift for the rare class; channels,
    countries and card types as categories; a few blanks."""
    rng = np.random.default_rng(seed)
    rare = rng.random(rows) < rare_share
    shift = rare * 1.5
    numeric = {
        "amount": np.round(np.exp(rng.normal(3 + shift, 1.0)), 2),
        "items": rng.poisson(2 + shift),
        "hour": rng.integers(0, 24, rows),
        "age_days": rng.integers(1, 3650, rows),
        "velocity": rng.gamma(2 + shift, 1.0),
        "ratio": rng.beta(2, 5 + shift),
        "score": rng.normal(shift, 1.0),
        "balance": np.where(rng.random(rows) < 0.05, np.nan, rng.normal(1000, 300, rows) - shift * 200),
        "distance": rng.exponential(10 + shift * 5),
        "attempts": rng.integers(1, 5, rows) + rare,
    }
    categorical = {
        "channel": rng.choice(["web", "shop", "phone", "app"], rows),
        "country": rng.choice([f"C{i:02d}" for i in range(30)], rows),
        "card": np.where(rare, rng.choice(["debit", "credit", "prepaid"], rows, p=[0.3, 0.3, 0.4]),
                         rng.choice(["debit", "credit", "prepaid"], rows, p=[0.5, 0.45, 0.05])),
        "device": rng.choice(["ios", "android", "desktop"], rows),
        "new_payee": rng.random(rows) < 0.1 + rare * 0.4,
        "weekend": rng.random(rows) < 0.3,
    }
    columns = {"numeric": numeric,
               "mixed": {**{k: numeric[k] for k in list(numeric)[:7]}, **{k: categorical[k] for k in list(categorical)[:3]}},
               "categorical": categorical}[kind]
    return pd.DataFrame(columns).assign(fraud=np.where(rare, "yes", "no"))


def params_for(policy: dict, rows: int):
    from augmill.tasks.params_load import parse_params

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"].update(modality="tabular", raw_dir="raw")
    raw["prepare"] = {"dataset": "none"}
    raw["tabular"] = {"files": ["table.parquet"], "label_column": "fraud"}
    # The rare class grows ten-fold: 2 % of the rows -> 20 % more rows in all.
    raw["augment"].update(factor=1.2, max_variants_per_source=10, policy=[policy])
    raw["execution"] = {"workers": 1, "cache": False}
    return parse_params(raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rare-share", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=3, help="runs per generator; the fastest is shown")
    args = parser.parse_args()

    from augmill.tasks import augment, bias, explore

    started = time.perf_counter()
    import imblearn.over_sampling  # noqa: F401  (a fixed cost of the stage's process, timed apart)

    imblearn_import = time.perf_counter() - started
    work = Path(tempfile.mkdtemp(prefix="augmill-tabular-bench-"))
    os.chdir(work)
    print(f"table: {args.rows:,} rows, rare class {args.rare_share:.0%}; one worker; {os.cpu_count()} CPUs; "
          f"fastest of {args.repeat} runs")
    print(f"{'generator':<16} {'table':<12} {'new rows':>9} {'seconds':>8} {'new rows/s':>11} {'table rows/s':>13}")
    prepared = None
    try:
        for policy, kind in RUNS:
            params = params_for(policy, args.rows)
            if prepared != kind:  # explore and bias once per table
                shutil.rmtree(work / "raw", ignore_errors=True)
                (work / "raw").mkdir()
                make_table(args.rows, args.rare_share, kind).to_parquet(work / "raw/table.parquet", index=False)
                explore.run(params)
                bias.run(params)
                prepared = kind
            seconds = float("inf")
            for _ in range(args.repeat):  # the fastest run: the least disturbed by other work on the machine
                started = time.perf_counter()
                made = augment.run(params)
                seconds = min(seconds, time.perf_counter() - started)
            print(f"{policy['name']:<16} {kind:<12} {made:>9,} {seconds:>8.2f} {made / seconds:>11,.0f} "
                  f"{args.rows / seconds:>13,.0f}")
        print(f"(plus {imblearn_import:.1f} s once per augment process to import imbalanced-learn, not in the rows above)")
    finally:
        os.chdir(REPO)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
