"""The HTTP service: app factory, lifespan, dependencies, errors, request ids and health."""
