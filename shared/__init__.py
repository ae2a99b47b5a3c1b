"""Concierge's library: adapters to managed services, the recommendation engine, the domains and the API model.

Functions, jobs and trainers import this package; it imports none of them.
"""
