"""Substring search over users without scanning them: the database objects behind it.

``LIKE '%q%'`` can use no B-tree index. PostgreSQL gets trigram GIN indexes (``pg_trgm``) on
email, name and subject, which ``ILIKE`` uses as it is. SQLite gets an FTS5 table with the
trigram tokenizer, kept current by triggers, queried with ``MATCH``. Neither is a model: the
migration creates them, and ``is_search_machinery`` tells Alembic's comparison to leave them be.
"""

from __future__ import annotations

SQLITE_TABLE = "users_search"
TRGM_INDEXES = ("ix_users_email_trgm", "ix_users_name_trgm", "ix_users_subject_trgm")


def is_search_machinery(name: str | None) -> bool:
    """Whether a table or index name belongs to the search (and not to the models)."""
    if not name:
        return False
    return name.startswith(SQLITE_TABLE) or name in TRGM_INDEXES
