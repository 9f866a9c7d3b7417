"""Structures for training and MD: molecules from SMILES, packed liquid boxes, MD sampling,
clusters of whole molecules."""

from mlipcamp.science.structures.clusters import (
    cut_cluster,
    cut_cluster_radius,
    cut_clusters,
    periodic_snapshot,
    scaled_snapshot,
    training_structures,
)
from mlipcamp.science.structures.molecules import centres_of_mass, make_molecules_whole, molecule_ids
from mlipcamp.science.structures.packing import (
    InvalidSmilesError,
    build_box,
    canonical_smiles,
    molar_mass_g_mol,
    molecule_from_smiles,
)
from mlipcamp.science.structures.sampling import sample_liquid

__all__ = [
    "InvalidSmilesError",
    "build_box",
    "canonical_smiles",
    "centres_of_mass",
    "cut_cluster",
    "cut_cluster_radius",
    "cut_clusters",
    "make_molecules_whole",
    "molar_mass_g_mol",
    "molecule_from_smiles",
    "molecule_ids",
    "periodic_snapshot",
    "sample_liquid",
    "scaled_snapshot",
    "training_structures",
]
