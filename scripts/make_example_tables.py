"""Example tables for `data=csv`, written from scikit-learn's bundled data sets (no download).

    python scripts/make_example_tables.py            # into data/ (--out DIR for another folder)

- `breast_cancer.csv`: 569 tumours, 30 numeric measurements, `diagnosis` malignant or benign (classification);
- `diabetes.csv`: 422 patients with an `id`, age, `sex` as text, BMI, blood pressure and six blood serum
  measurements, a few cells left empty, and `progression` a year later (regression), as a real table would be;
- `diabetes_new.csv`: 20 more patients in the same columns, without `progression`: rows to predict.
"""

import argparse
from pathlib import Path

import numpy as np


def breast_cancer():
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    return frame


def diabetes(seed: int = 0):
    """The diabetes table with its own units, `sex` as words and 3% of the bmi, bp and s1 cells emptied."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "progression"})
    frame["sex"] = frame["sex"].map({1.0: "female", 2.0: "male"})
    rng = np.random.default_rng(seed)
    for column in ("bmi", "bp", "s1"):
        frame.loc[rng.random(len(frame)) < 0.03, column] = np.nan
    frame.insert(0, "id", np.arange(1001, 1001 + len(frame)))
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data", help="the folder to write into (default: data)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    breast_cancer().to_csv(out / "breast_cancer.csv", index=False)
    table = diabetes()
    table.iloc[:-20].to_csv(out / "diabetes.csv", index=False)
    table.iloc[-20:].drop(columns="progression").to_csv(out / "diabetes_new.csv", index=False)
    for name in ("breast_cancer.csv", "diabetes.csv", "diabetes_new.csv"):
        print(out / name)


if __name__ == "__main__":
    main()
