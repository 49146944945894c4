"""The benchmark: `python -m bench` measures issue 4's targets and writes bench/RESULTS.md."""
