"""Prefect flows: the campaign flow, its runner (Prefect API and Dask cluster), the deployment entry point."""
