"""`python -m bench [--only SUITE] [--quick]`: see bench/run.py."""

from bench.run import main

raise SystemExit(main())
