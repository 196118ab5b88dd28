"""Tables and plots of a finished sweep: `python scripts/report.py outputs/multirun/DATE/TIME`.

Prints a Markdown table (one row per run, the swept keys, the final metrics; seeds grouped to
mean ± std) and writes report.md, report.csv, PNG figures and a TensorBoard run into the sweep
folder. A multirun writes the same report by itself when it ends (see litlab/report.py).
"""

import argparse
import sys

from litlab.errors import LitlabError
from litlab.report import write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", help="the multirun folder, e.g. outputs/multirun/2026-01-31/12-00-00")
    parser.add_argument("--no-plots", action="store_true", help="only the tables")
    args = parser.parse_args()
    try:
        write_report(args.sweep_dir, plots=not args.no_plots)
    except LitlabError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
