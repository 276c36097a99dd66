"""Executors that score architectures beyond the service's own device threads (Ray actors).

Each one is optional: its engine is imported only when it is used.
"""
