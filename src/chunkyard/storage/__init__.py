"""Storage: the database engine, models, migrations, repositories and partition health."""
