"""Alembic migrations for the facevault catalog (installed as `facevault.migrations`)."""
