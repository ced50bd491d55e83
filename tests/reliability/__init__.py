"""Reliability tests: faults, crashes, bad input, secret hygiene and fuzzing, over real EWS test servers."""
