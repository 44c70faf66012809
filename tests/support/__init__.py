"""Test support: a private real Redis server, a live app server, a job worker process."""
