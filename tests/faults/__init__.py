"""Fault-injection tests: cancellation, server faults, crashes, hostile values.

Every test here is marked ``faults``. ``make test`` runs them with small trial
counts; ``make soak`` runs the same tests with ``SYNTHORG_SOAK`` scaling the
trials and prints each test's figures (see :mod:`tests.faults._soak`).
"""
