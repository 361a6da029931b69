"""The user search's index follows every change of a user's email, name or subject, and on
SQLite finding the old entry costs the same whatever the number of users (migration 0013)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, insert, update

from portal.extensions import db
from portal.models import User, utcnow
from portal.services.users import search


def _add_users(start: int, count: int) -> None:
    now = utcnow()
    db.session.execute(
        insert(User.__table__),
        [
            {
                "id": uuid.uuid4(),
                "issuer": "https://idp.test",
                "subject": f"filler{i}",
                "email": f"filler{i}@corp.test",
                "name": f"Filler {i}",
                "groups": [],
                "created_at": now,
            }
            for i in range(start, start + count)
        ],
    )


def _emails(q: str) -> set[str]:
    return {row.user.email for row in search.search_users(q).rows}


def test_a_changed_or_deleted_user_is_found_by_the_new_values_only(app):
    with app.app_context():
        _add_users(0, 20)
        ids = {}
        for sub, email, name in [
            ("ann-sub", "ann.old@corp.test", "Ann Oldname"),
            ("ab", "ab", "Ab"),  # no value of three characters: found by the scan
            ('quo"te', 'quo"te@corp.test', 'Q "Quote" Q'),
        ]:
            ids[sub] = uuid.uuid4()
            db.session.execute(
                insert(User.__table__).values(
                    id=ids[sub],
                    issuer="https://idp.test",
                    subject=sub,
                    email=email,
                    name=name,
                    groups=[],
                    created_at=utcnow(),
                )
            )
        db.session.commit()
        assert _emails("ann.old") == {"ann.old@corp.test"}

        db.session.execute(
            update(User).where(User.id == ids["ann-sub"]).values(email="ann.new@corp.test")
        )
        db.session.execute(update(User).where(User.id == ids["ab"]).values(name="Abigail"))
        db.session.execute(
            update(User).where(User.id == ids['quo"te']).values(email="plain@corp.test")
        )
        db.session.commit()
        assert _emails("ann.old") == set() and _emails("ann.new") == {"ann.new@corp.test"}
        assert _emails("Oldname") == {"ann.new@corp.test"}  # the name did not change
        assert _emails("Abigail") == {"ab"}
        assert _emails('quo"te@') == set() and _emails("plain@") == {"plain@corp.test"}
        assert _emails("filler1") == {f"filler{i}@corp.test" for i in (1, *range(10, 20))}

        db.session.execute(delete(User).where(User.id.in_(list(ids.values()))))
        db.session.commit()
        assert _emails("ann.new") == _emails("Abigail") == _emails("plain@") == set()
        if db.engine.dialect.name == "sqlite":
            entries = db.session.execute(db.text("SELECT count(*) FROM users_search")).scalar_one()
            assert entries == 20  # the fillers' only


def _steps_of_an_email_change(user_id: uuid.UUID, email: str) -> int:
    """SQLite virtual machine steps (counted in tens) of one email change, on an index
    merged into one segment first: how many segments earlier writes left (FTS5 merges them
    as it goes) changes the count by more than the table's size does."""
    db.session.execute(db.text("INSERT INTO users_search (users_search) VALUES ('optimize')"))
    raw = db.session.connection().connection.driver_connection
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    raw.set_progress_handler(count, 10)
    try:
        db.session.execute(update(User).where(User.id == user_id).values(email=email))
    finally:
        raw.set_progress_handler(None, 0)
    return steps


def test_changing_an_email_costs_the_same_with_ten_times_the_users(app):
    """The triggers of 0005 read every entry of the FTS5 table to find a user's old one, so
    their steps grow with the table; 0013's find it by a phrase of the old values."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            # PostgreSQL searches the users table's own trigram indexes: no second table
            # (nor its triggers) is made there for an email change to keep current.
            tables = db.session.execute(
                db.text("SELECT tablename FROM pg_tables WHERE tablename LIKE 'users_search%'")
            ).all()
            assert tables == []
            return
        watched = uuid.uuid4()
        db.session.execute(
            insert(User.__table__).values(
                id=watched,
                issuer="https://idp.test",
                subject="watched",
                email="watched@corp.test",
                name="Watched",
                groups=[],
                created_at=utcnow(),
            )
        )
        _add_users(0, 300)
        db.session.commit()
        _steps_of_an_email_change(watched, "warm@corp.test")
        few = _steps_of_an_email_change(watched, "watched.one@corp.test")
        _add_users(300, 3_000)
        db.session.commit()
        many = _steps_of_an_email_change(watched, "watched.two@corp.test")
        db.session.commit()
        assert _emails("watched.two") == {"watched.two@corp.test"}
        assert many <= few * 1.5, (few, many)
