"""State: SQLAlchemy Core tables, Alembic migrations, and the queries the engine needs."""
