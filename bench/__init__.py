"""Benchmarks: intake, processing, replay and decide, each beside the machine's floor.

Run them all with `python -m bench` from the checkout (`python -m bench --help` for sizes).
"""
