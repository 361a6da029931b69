"""Domain operations shared by the pages and the JSON routes.

They take plain values (never the request), change the database and ``flush()``; the view that
called them owns the transaction and commits.
"""
