"""Shared Signals streams (SSF 1.0 section 8) that receivers manage: the stream as one read
row and who receives an event (``reads``), what a receiver may ask of a stream
(``configuration``), subjects as canonical keys (``subjects``), the verification event
(``verification``), and an event's outbox rows, one per stream (``fanout``)."""
