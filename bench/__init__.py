"""Measurements that are run by hand and reported in the README, not part of the test suite."""
