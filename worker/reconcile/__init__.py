"""Reconcile (issue 22): compare what Stripe holds with what the policy and our stored history say
it should hold, report every difference in support's words, and with `--fix` bring Stripe back
to the policy's end state through the gateway.

- `findings.py`: the finding, its kinds and words;
- `expected.py`: the checks, pure functions of our facts and Stripe's objects;
- `compare.py`: one customer's facts and Stripe's objects, read through the gateway;
- `fix.py`: a finding's remedy, through the gateway;
- `run.py`: a run over the selected customers, and its report.
"""
