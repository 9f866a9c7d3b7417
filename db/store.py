"""Content-addressed file store: bulk arrays, structures and models live on disk,
the database keeps their relative path and sha256."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

from mlipcamp.hashing import sha256_file


class FileStore:
    """Files named by their sha256 under ``root/ab/abcdef….ext``; writes are atomic."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, relpath: str) -> Path:
        """Absolute path of a stored file."""
        return self.root / relpath

    def put_file(self, source: str | Path, suffix: str) -> tuple[str, str]:
        """Copy ``source`` into the store; return (relative path, sha256)."""
        digest = sha256_file(source)
        relpath = f"{digest[:2]}/{digest}{suffix}"
        target = self.path(relpath)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
            os.close(fd)
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        return relpath, digest

    def put_arrays(self, **arrays: np.ndarray) -> tuple[str, str]:
        """Store named arrays as one ``.npz``; return (relative path, sha256)."""
        with tempfile.TemporaryDirectory(dir=self.root) as tmp:
            tmp_path = Path(tmp) / "arrays.npz"
            np.savez(tmp_path, **arrays)
            return self.put_file(tmp_path, ".npz")

    def get_arrays(self, relpath: str) -> dict[str, np.ndarray]:
        with np.load(self.path(relpath)) as data:
            return {key: data[key] for key in data.files}

    def put_atoms(self, atoms: Atoms | list[Atoms]) -> tuple[str, str]:
        """Store one or more structures as extended XYZ; return (relative path, sha256)."""
        with tempfile.TemporaryDirectory(dir=self.root) as tmp:
            tmp_path = Path(tmp) / "structure.extxyz"
            write(tmp_path, atoms, format="extxyz")
            return self.put_file(tmp_path, ".extxyz")

    def get_atoms(self, relpath: str) -> Atoms:
        return read(self.path(relpath), format="extxyz")

    def get_atoms_list(self, relpath: str) -> list[Atoms]:
        return read(self.path(relpath), index=":", format="extxyz")
