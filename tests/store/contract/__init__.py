"""The Store contract, written once and run against every backend.

Only Store methods are used here (no SQL), so a new backend passes this package unchanged or has
a bug. Times are explicit `now` values far from the wall clock, chosen to be exact in binary so
that every backend stores them without rounding.

Every test takes the `store` fixture (tests/store/conftest.py), which runs it once per backend.
The helpers every area uses are in helpers.py; each test_*.py holds one area of the contract, so
a new area is a new file.
"""
