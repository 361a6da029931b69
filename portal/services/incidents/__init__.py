"""Incident response across users: the sign-in search, its filters, and bulk sign-out jobs."""
