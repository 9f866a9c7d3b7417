"""Units of work of an mlipcamp campaign.

Science lives in plain typed functions (``tasks.structures``, ``tasks.qm``,
``tasks.training``, ``tasks.md``, ``tasks.analysis``…) that never import Prefect;
``tasks.steps`` holds the thin Prefect wrappers that add database bookkeeping.
"""
