"""mlipcamp: how much do MACE liquid properties depend on the choices made while training it?

Layers, each importing only those below it (tests/test_layers.py checks this; docs/architecture.md
is the map):

- ``mlipcamp.cli``: the ``mlipcamp`` command, one module per command group.
- ``mlipcamp.flows``: Prefect flows; they compose tasks and compute nothing.
- ``mlipcamp.tasks``: Prefect tasks; each is key → look-up → science → record.
- ``mlipcamp.settings``: the campaign file (composes the science's own settings models).
- ``mlipcamp.db``: results database and file store; plain data, no science.
- ``mlipcamp.tables``, ``mlipcamp.figures``: what people read; every figure is made in ``figures``.
- ``mlipcamp.science``: plain typed functions, units in names; no Prefect, SQLAlchemy or flows.
- ``mlipcamp.schema``, ``mlipcamp.hashing``: quantities with units, strict settings models, hashes.
"""
