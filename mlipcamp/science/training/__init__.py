"""MACE training through mace-torch's own CLI: the settings (``settings``), the run (``mace``)."""
