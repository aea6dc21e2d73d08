"""One harness for every suite that starts processes, and for the benchmarks.

`servers`: real Redis, PostgreSQL and stripe-mock on free loopback ports. `processes`: our own
processes (`billing-worker serve`, `worker`, `run`, any command line) each leading its own
process group, so stopping one stops what it forked. The tests import it as `harness` (pytest
puts `tests/` on the path), `python -m bench` as `tests.harness` from the checkout's root.
"""
