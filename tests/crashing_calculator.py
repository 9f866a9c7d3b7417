"""An ASE calculator that kills its process on xenon, to test how a campaign survives a dying worker."""

import os

from ase.calculators.lj import LennardJones


class LennardJonesUnlessXenon(LennardJones):
    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        if atoms is not None and "Xe" in atoms.get_chemical_symbols():
            os._exit(13)  # what a segfaulting QM code does to a Dask worker
        super().calculate(atoms, properties, system_changes)
