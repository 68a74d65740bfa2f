"""The HTTP service: request schemas, monitoring and the FastAPI application."""
