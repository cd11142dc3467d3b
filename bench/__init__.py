"""OpenTrail's benchmark: `python -m bench` prints a table and writes JSON.

Every number is measured beside a reference taken in the same run on the same machine
and reported as a ratio, so results from different machines stay comparable.
"""
