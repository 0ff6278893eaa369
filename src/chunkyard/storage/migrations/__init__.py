"""Alembic migrations, shipped inside the package so that installed copies can migrate."""
