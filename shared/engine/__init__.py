"""The recommendation machinery, domain-agnostic: users, items of any catalogue, and events.

The engine never imports a domain (shared.domains); domains build on it.
"""
