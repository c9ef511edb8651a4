"""The external metrics API server (``autoscaler adapter``): see docs/adapter.md.

Nothing is imported here, so the CLI can build its parser without loading FastAPI.
"""
