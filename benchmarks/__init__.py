"""underway's benchmark suite: underway and the Python queues people use, side by side.

Run it with `python -m benchmarks` (or `make bench`); `python -m benchmarks --help` lists the
options. README.md beside this file says what is measured and how.
"""
