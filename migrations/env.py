import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import event

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
# Keep the application's loggers working when migrations run inside a running process.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def get_engine():
    return current_app.extensions["migrate"].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")
    except AttributeError:
        return str(get_engine().url).replace("%", "%%")


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def include_name(name, type_, parent_names):
    """Leave the user search's tables and indexes (not models; see portal/models/search.py)."""
    from portal.models.search import is_search_machinery

    return not is_search_machinery(name)


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True)

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    connectable = get_engine()

    conf_args.setdefault("include_name", include_name)

    with connectable.connect() as connection:
        if connection.dialect.name == "postgresql":
            # The app's PORTAL_DATABASE_*_TIMEOUT bound requests; a migration (an index built
            # over every user) may take longer, and may wait for the locks it needs.
            connection.exec_driver_sql("SET statement_timeout = 0")
            connection.exec_driver_sql("SET lock_timeout = 0")
            connection.commit()  # the settings stay for the session; the migrations begin anew
        if connection.dialect.name == "sqlite":
            _run_sqlite_migrations(connection, conf_args)
            return
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)

        with context.begin_transaction():
            context.run_migrations()


def _run_sqlite_migrations(connection, conf_args):
    """On SQLite: all the migrations in one transaction, with foreign keys checked, not
    enforced, while they run.

    One transaction: SQLite's DDL is transactional, but Python's driver opens a transaction
    only before a data change, so a migration that failed half-way left its tables changed
    and its version unrecorded. Here the driver issues no BEGIN of its own and every
    transaction starts with an explicit one (SQLAlchemy's documented pysqlite recipe), so a
    failure undoes it all.

    Not enforced: a migration that rebuilds a table (copy, drop, rename) would delete by
    cascade the rows that reference it. SQLite ignores the pragma inside a transaction, so it
    is set before, and given back after, when the pooled connection returns to the app.
    """
    driver = connection.connection.driver_connection
    connection.commit()  # nothing open: the pragma and the driver's mode take effect now
    legacy_mode = driver.isolation_level
    driver.isolation_level = None
    driver.execute("PRAGMA foreign_keys=OFF")
    event.listen(connection, "begin", _begin)
    try:
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            transactional_ddl=True,
            **conf_args,
        )
        with context.begin_transaction():
            before = context.get_context().get_current_heads()
            context.run_migrations()
            if context.get_context().get_current_heads() != before:
                _refuse_broken_references(connection)
    finally:
        event.remove(connection, "begin", _begin)
        connection.rollback()  # nothing is open by now (committed, or undone on failure)
        driver.execute("PRAGMA foreign_keys=ON")
        driver.isolation_level = legacy_mode


def _begin(connection):
    connection.exec_driver_sql("BEGIN")


def _refuse_broken_references(connection):
    """What enforcement would have refused, checked before the migrations commit: SQLite's own
    procedure for a table rebuild. The check reads every table, so its time grows with the
    database, and it runs only when a migration did."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migrations left rows naming missing parents: {broken[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
