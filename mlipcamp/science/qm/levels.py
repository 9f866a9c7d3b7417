"""Levels of theory: what labels a structure (code, method, basis, dispersion, settings, code version).

A level is named by a SPEC string, parsed by :func:`get_level` (case-insensitive except ``ase:``):

- ``gfn2-xtb``           GFN2-xTB through tblite (the default level)
- ``gfn2-xtb@xtb``       GFN2-xTB through xtb-python (molecules only)
- ``<functional>[-<dispersion>]/<basis>[@<code>]``   DFT, e.g. ``pbe-d3bj/def2-svp``:
  functional: any libxc/PySCF functional name (``pbe``, ``b3lyp``, ``r2scan``, ``hyb_gga_xc_wb97x_d3``...);
  dispersion: ``d2``, ``d3bj``, ``d3zero`` or ``none`` (default none); code: ``pyscf`` (default) or ``psi4``
- ``ase:<module>:<Class>``  any ASE calculator (e.g. periodic DFT); kwargs via :func:`ase_level`

The resolved LevelOfTheory stores everything that changes the numbers: the exact libxc
functional expression, basis, dispersion variant and its parameters, density fitting, grids,
convergence settings and the code versions, so its hash changes when any of them does.
See docs/levels_of_theory.md.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pydantic

from mlipcamp.hashing import hash_json


class UnknownLevelError(ValueError):
    """Raised for a level-of-theory spec that does not resolve to a level this project can run."""


class LevelOfTheory(pydantic.BaseModel, frozen=True, extra="forbid"):
    """A fully specified QM level; its ``hash`` keys labels together with the structure hash."""

    name: str
    code: str
    method: str
    basis: str | None = None
    dispersion: str | None = None
    settings: dict[str, Any] = {}
    code_version: str

    @property
    def hash(self) -> str:
        """sha256 of every field (settings and code version included)."""
        return hash_json(self.model_dump())

    def with_settings(self, **kw: Any) -> LevelOfTheory:
        """Copy of this level with ``settings`` updated by ``kw``."""
        return LevelOfTheory.model_validate({**self.model_dump(), "settings": {**self.settings, **kw}})


# The documented named specs, in documentation order (the default first).
NAMED_SPECS: tuple[str, ...] = (
    "gfn2-xtb",
    "gfn2-xtb@xtb",
    "pbe-d3bj/def2-svp",
    "pbe-d2/def2-svp",
    "b97-d3bj/def2-tzvp",
    "wb97x-d3/def2-tzvp",
)
DFT_CODES = ("pyscf", "psi4")
DISPERSIONS = ("d2", "d3bj", "d3zero", "none")

# Defaults of a PySCF DFT level (all stored in LevelOfTheory.settings).
PYSCF_DEFAULTS: dict[str, Any] = {
    "density_fit": True,  # RI-J/K with the basis' JK-fit auxiliary basis: several-fold faster
    "grids_level": 3,  # PySCF's Treutler-Ahlrichs/Becke grids, level 0-9
    # forces include the derivative of the grid weights: exact derivatives of the energy and no
    # spurious net force (6e-3 eV/Å on EC without it), at no measurable extra cost
    "grid_response": True,
    "conv_tol": 1e-9,  # Hartree
    "max_cycle": 100,  # SCF cycles before the label is declared failed
}
# Defaults of a psi4 DFT level: psi4 option names, passed to psi4.set_options.
PSI4_DEFAULT_OPTIONS: dict[str, Any] = {
    "scf_type": "df",
    "dft_radial_points": 75,
    "dft_spherical_points": 302,
    "e_convergence": 1e-8,
    "d_convergence": 1e-8,
    "maxiter": 100,
}
XTB_SETTINGS = {"accuracy": 1.0, "electronic_temperature_K": 300.0, "max_iterations": 250}

_XTB_MISSING = (
    "xtb (xtb-python) is not installed: pip install xtb (binary wheels for CPython 3.11 only), or use gfn2-xtb (tblite)"
)
_PSI4_MISSING = "psi4 is conda-only and not installed (conda install -c conda-forge psi4)"


# --- named xTB levels ---------------------------------------------------------------------------


def _gfn2_xtb() -> LevelOfTheory:
    # GFN2-xTB carries its own minimal basis and D4 dispersion, so basis/dispersion stay None.
    return LevelOfTheory(
        name="gfn2-xtb",
        code="tblite",
        method="GFN2-xTB",
        settings=dict(XTB_SETTINGS),
        code_version=importlib.metadata.version("tblite"),
    )


def _gfn2_xtb_python() -> LevelOfTheory:
    return LevelOfTheory(
        name="gfn2-xtb@xtb",
        code="xtb",
        method="GFN2-xTB",
        settings=dict(XTB_SETTINGS),
        code_version=_version("xtb", "gfn2-xtb@xtb", _XTB_MISSING),
    )


_XTB_LEVELS = {"gfn2-xtb": _gfn2_xtb, "gfn2-xtb@tblite": _gfn2_xtb, "gfn2-xtb@xtb": _gfn2_xtb_python}


# --- public API -----------------------------------------------------------------------------------


def known_level_names() -> list[str]:
    """The documented named specs accepted by :func:`get_level` (the default ``gfn2-xtb`` first)."""
    return list(NAMED_SPECS)


def get_level(spec: str) -> LevelOfTheory:
    """The level of theory a SPEC string names; raises UnknownLevelError (a ValueError).

    Named specs are in :func:`known_level_names`; DFT levels are written
    ``<functional>[-<dispersion>]/<basis>[@<code>]``, ASE calculators ``ase:<module>:<Class>``.
    """
    text = spec.strip()
    if text.lower().startswith("ase:"):
        return _ase_level_from_spec(spec, text[4:])
    if text.lower().startswith(DECLARED_PREFIX):
        return declared_level(text)
    text = text.lower()
    if text in _XTB_LEVELS:
        return _XTB_LEVELS[text]()
    if "/" not in text:
        raise _unknown(spec)
    parsed = parse_level_spec(spec)
    if parsed.code == "pyscf":
        return _pyscf_level(spec, parsed)
    return _psi4_level(spec, parsed)


@dataclass(frozen=True)
class ParsedSpec:
    """The parts of a DFT spec, before any check that the functional, basis or code exist."""

    functional: str
    dispersion: str | None  # one of d2, d3bj, d3zero; None for none/absent
    basis: str
    code: str


_DISPERSION_LIKE = re.compile(r"-(d\d[a-z0-9()]*|none)$")


def parse_level_spec(spec: str) -> ParsedSpec:
    """Split ``<functional>[-<dispersion>]/<basis>[@<code>]`` (lower-cased); UnknownLevelError if malformed."""
    text = spec.strip().lower()
    text, _, code = text.partition("@")
    code = code or "pyscf"
    if code not in DFT_CODES:
        raise _unknown(spec, f"unknown code {code!r} for a DFT level (known: {', '.join(DFT_CODES)})")
    functional, slash, basis = text.partition("/")
    if not slash or not functional or not basis or "/" in basis:
        raise _unknown(spec, "a DFT level is written <functional>[-<dispersion>]/<basis>[@<code>]")
    dispersion = None
    match = _DISPERSION_LIKE.search(functional)
    if match and functional not in _SPECIAL_FUNCTIONALS:
        dispersion = match.group(1)
        if dispersion not in DISPERSIONS:
            raise _unknown(
                spec,
                f"unknown dispersion {dispersion!r} (known: {', '.join(DISPERSIONS)};"
                " d3 alone is ambiguous: write d3bj or d3zero)",
            )
        functional = functional[: match.start()]
        if dispersion == "none":
            dispersion = None
    if re.search(r"-d\d", functional) and functional not in _SPECIAL_FUNCTIONALS:
        raise _unknown(spec, f"functional {functional!r} already names a dispersion correction")
    return ParsedSpec(functional=functional, dispersion=dispersion, basis=basis, code=code)


def ase_level(
    calculator: str,
    kwargs: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    supports_periodic: bool = True,
    charge_kwarg: str | None = None,
) -> LevelOfTheory:
    """Level for any ASE calculator class ``'package.module:ClassName'`` built with ``kwargs``.

    ``kwargs`` must be JSON-serialisable (they are hashed). ``charge_kwarg`` names the
    constructor argument taking the total charge (e.g. GPAW's ``'charge'``); without it only
    neutral structures can be labelled. The default name is ``ase:<calculator>``, so give a
    ``name`` when the kwargs differ from the defaults (the hash tells them apart either way).
    """
    module, _, cls = calculator.partition(":")
    if not module or not cls or not cls.isidentifier():
        raise UnknownLevelError(f"ASE calculator must be 'package.module:ClassName', got {calculator!r}")
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise UnknownLevelError(f"ASE calculator module {module!r} is not importable")
    distribution = _distribution_of(module.split(".")[0])
    version = f"{distribution} {importlib.metadata.version(distribution)}" if distribution else "unknown"
    return LevelOfTheory(
        name=name or f"ase:{calculator}",
        code="ase",
        method=calculator,
        settings={
            "calculator": calculator,
            "kwargs": dict(kwargs or {}),
            "supports_periodic": supports_periodic,
            "charge_kwarg": charge_kwarg,
        },
        code_version=version,
    )


DECLARED_PREFIX = "declared:"


def declared_level(spec: str) -> LevelOfTheory:
    """The level under which labels computed elsewhere (imported files) are stored: ``declared:<spec>``.

    Nothing here can compute it (code ``'declared'``), and it never shares a hash with a level
    this project computes, so imported and computed labels are not mixed. DFT-style specs are
    canonicalised like :func:`get_level`'s (``PBE-D3BJ/def2-SVP`` -> ``pbe-d3bj/def2-svp``,
    ``-none`` dropped) without checking that PySCF knows them; any ``@<code>`` is kept (``@orca``);
    other specs are taken as written, lower-cased. The hash depends only on the spec.
    """
    text = spec.strip()
    if text.lower().startswith(DECLARED_PREFIX):
        text = text[len(DECLARED_PREFIX) :].strip()
    text = text.lower()
    if not text or any(ch.isspace() for ch in text):
        raise UnknownLevelError(f"a declared level needs a spec without spaces, got {spec!r}")
    body, at, code = text.partition("@")
    method, basis, dispersion, canonical = text, None, None, text
    if "/" in body:
        try:
            parsed = parse_level_spec(body)
        except UnknownLevelError:
            pass
        else:
            method, basis, dispersion = parsed.functional, parsed.basis, parsed.dispersion
            canonical = f"{method}{'-' + dispersion if dispersion else ''}/{basis}" + (f"@{code}" if at else "")
    return LevelOfTheory(
        name=f"{DECLARED_PREFIX}{canonical}",
        code="declared",
        method=method,
        basis=basis,
        dispersion=dispersion,
        settings={},
        code_version="external",
    )


def check_xtb_level(level: LevelOfTheory, code: str, known_settings: set[str] | dict) -> None:
    """Refuse an xTB level with a basis, a dispersion or settings the ``code`` backend does not know."""
    if level.basis is not None or level.dispersion is not None:
        raise ValueError(
            f"level {level.name!r}: {code} methods carry their own basis and dispersion; basis and dispersion must be None"
        )
    unknown = sorted(set(level.settings) - set(known_settings))
    if unknown:
        raise ValueError(f"level {level.name!r}: unknown {code} settings {unknown}; known: {sorted(known_settings)}")


def periodic_refusal(code: str) -> str:
    """The message with which a molecules-only backend refuses a periodic cell."""
    return (
        f"{code} backend cannot label periodic cells; use an ASE calculator backend such as "
        "GPAW, VASP, Quantum ESPRESSO or CP2K (spec ase:<module>:<Class>, or ase_level()) or "
        "gfn2-xtb (tblite) — see docs/levels_of_theory.md"
    )


# --- DFT resolution -------------------------------------------------------------------------------

# Functional names that are not plain "<libxc name>[-<dispersion>]".
# spec functional -> (libxc expression for PySCF, psi4 base name, parameter key, built-in dispersion)
_SPECIAL_FUNCTIONALS: dict[str, tuple[str, str, str, str | None]] = {
    # ωB97X-D3 (Lin et al. 2013): its own libxc functional plus refitted D3 zero damping
    "wb97x-d3": ("HYB_GGA_XC_WB97X_D3", "wb97x-d3", "wb97x-d3", "d3zero"),
    # B97-D (Grimme 2006): the GGA refitted with D2; 'b97-d' alone means B97-D2, as in the paper
    "b97-d": ("GGA_XC_B97_D", "b97-d", "b97-d", "d2"),
}
# PySCF's/libxc's 'b97' is Becke's 1997 *hybrid*; a dispersion-corrected B97 always means the
# B97-D GGA (b97-d3bj in PySCF silently gives the hybrid: the trap this table avoids).
_B97_FAMILY = {"b97", "b97-d"}
_BLOCKED = {
    "wb97x-d": "ωB97X-D's own dispersion (Chai & Head-Gordon 2008) is not implemented; use wb97x-d3",
    "wb97x": "plain ωB97X has no D2/D3 parameters here; use wb97x-d3 (Lin et al. 2013)",
}


@dataclass(frozen=True)
class _Dft:
    functional_key: str  # canonical functional part of the name
    xc: str  # expression passed to the code
    dispersion: str | None
    params: dict[str, float] | None


def _resolve_dft(spec: str, parsed: ParsedSpec) -> _Dft:
    functional, dispersion = parsed.functional, parsed.dispersion
    if functional in _BLOCKED and (dispersion is not None or functional == "wb97x-d"):
        raise _unknown(spec, _BLOCKED[functional])
    if functional in _SPECIAL_FUNCTIONALS and functional not in _B97_FAMILY:
        xc, _, key, builtin = _SPECIAL_FUNCTIONALS[functional]
        if dispersion is not None and dispersion != builtin:
            raise _unknown(spec, f"{functional} comes with its own {builtin} dispersion")
        return _Dft(functional, xc, builtin, _dispersion_params(spec, key, builtin))
    if functional in _B97_FAMILY and (dispersion is not None or functional == "b97-d"):
        variant = dispersion or "d2"
        return _Dft("b97", "GGA_XC_B97_D", variant, _dispersion_params(spec, "b97-d", variant))
    xc = _resolve_xc(spec, functional)
    params = _dispersion_params(spec, functional, dispersion) if dispersion else None
    return _Dft(functional, xc, dispersion, params)


def _dispersion_params(spec: str, functional: str, variant: str) -> dict[str, float]:
    from mlipcamp.science.qm import dispersion as disp

    if functional == "wb97x-d3" and variant == "d3zero":
        return dict(disp.WB97X_D3_ZERO_PARAMS)
    if variant == "d2":
        if functional not in disp.D2_S6:
            raise _unknown(
                spec,
                f"no D2 s6 for functional {functional!r} (Grimme 2006 gives: {', '.join(disp.D2_S6)})",
            )
        return {"s6": disp.D2_S6[functional], "d": disp.D2_DAMPING_D}
    damping = {"d3bj": "bj", "d3zero": "zero"}[variant]
    _version("dftd3", spec, "dftd3 is not installed: pip install 'mlipcamp[dft]'")
    params = disp.d3_parameters(functional, damping)
    if params is None:
        raise _unknown(
            spec,
            f"no {variant} parameters for functional {functional!r} in simple-dftd3's table"
            f" ({len(disp.d3_table_functionals(damping))} functionals, e.g. pbe, b3lyp, tpss, r2scan)",
        )
    return params


_LIBXC_NAME = re.compile(r"^(HYB_)?(LDA|GGA|MGGA)_(X|C|XC|K)_")


@lru_cache(maxsize=1)
def _libxc_names() -> dict[int, str]:
    from pyscf.dft import libxc

    names: dict[int, list[str]] = {}
    for key, code in libxc.XC_CODES.items():  # values: libxc ids, or alias strings like 'PBE,PBE'
        if not isinstance(code, str) and _LIBXC_NAME.match(key):
            names.setdefault(int(code), []).append(key)
    # libxc's own name has the most underscores (GGA_XC_B97_D, not the alias GGA_XC_B97D)
    return {code: sorted(keys, key=lambda k: (-k.count("_"), k))[0] for code, keys in names.items()}


def _parsed_xc(expression: str) -> tuple:
    from pyscf.dft import libxc

    (hyb, alpha, omega), terms = libxc.parse_xc(expression)
    return (
        (float(hyb), float(alpha), float(omega)),
        tuple((int(code), float(fac)) for code, fac in terms),
    )


def _resolve_xc(spec: str, functional: str) -> str:
    """The explicit libxc expression PySCF evaluates for ``functional`` (e.g. 'GGA_X_PBE,GGA_C_PBE')."""
    try:
        reference = _parsed_xc(functional)
    except Exception as exc:  # KeyError / NotImplementedError / ValueError from PySCF's parser
        raise _unknown(spec, f"unknown functional {functional!r} ({_first_line(exc)})") from None
    (hyb, alpha, omega), terms = reference
    names = _libxc_names()
    candidate = None
    if omega == 0.0 and hyb == alpha and all(code in names for code, _ in terms):
        parts = [] if not hyb else ["HF"] if hyb == 1.0 else [f"{hyb!r}*HF"]
        parts += [names[code] if fac == 1.0 else f"{fac!r}*{names[code]}" for code, fac in terms]
        x = [p for p in parts if "_C_" not in p]
        c = [p for p in parts if "_C_" in p]
        candidate = "+".join(x) + ("," + "+".join(c) if c and x else "+".join(c))
    try:
        if candidate and _parsed_xc(candidate) == reference:
            return candidate
    except Exception:
        pass
    # range-separated hybrids defined by hand and the like: PySCF's own (upper-cased) spelling
    return functional.upper().replace(" ", "")


def _check_basis(spec: str, basis: str) -> None:
    from pyscf import gto

    for element in ("H", "C"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if gto.basis.load(basis, element):
                    return
        except Exception:
            continue
    raise _unknown(spec, f"unknown basis {basis!r} (not in PySCF's basis library)")


def _auxbasis(basis: str) -> str:
    """The density-fitting basis PySCF pairs with ``basis``: a JK-fit set, or even-tempered ('etb')."""
    from pyscf.df.addons import DEFAULT_AUXBASIS
    from pyscf.gto.basis import _format_basis_name

    entry = DEFAULT_AUXBASIS.get(_format_basis_name(basis))
    return entry[0] if entry else "etb"


def _dft_name(dft: _Dft, basis: str, code: str) -> str:
    name = dft.functional_key
    if dft.dispersion is not None and dft.functional_key not in _SPECIAL_FUNCTIONALS:
        name += f"-{dft.dispersion}"
    return f"{name}/{basis}" + ("" if code == "pyscf" else f"@{code}")


def _pyscf_level(spec: str, parsed: ParsedSpec) -> LevelOfTheory:
    pyscf_version = _version("pyscf", spec, "pyscf is not installed: pip install 'mlipcamp[dft]'")
    from pyscf.dft import libxc

    dft = _resolve_dft(spec, parsed)
    _check_basis(spec, parsed.basis)
    versions = [f"pyscf {pyscf_version}", f"libxc {libxc.libxc_version()}"]
    settings: dict[str, Any] = {**PYSCF_DEFAULTS, "auxbasis": _auxbasis(parsed.basis)}
    if dft.dispersion is not None:
        settings["dispersion_params"] = dft.params
        if dft.dispersion.startswith("d3"):
            dftd3_version = _version("dftd3", spec, "dftd3 is not installed: pip install 'mlipcamp[dft]'")
            versions.append(f"dftd3 {dftd3_version}")
        else:
            from mlipcamp.science.qm.dispersion import D2_IMPLEMENTATION

            versions.append(D2_IMPLEMENTATION)
    return LevelOfTheory(
        name=_dft_name(dft, parsed.basis, "pyscf"),
        code="pyscf",
        method=dft.xc,
        basis=parsed.basis,
        dispersion=dft.dispersion,
        settings=settings,
        code_version="; ".join(versions),
    )


def _psi4_level(spec: str, parsed: ParsedSpec) -> LevelOfTheory:
    """psi4 level: psi4's own functional name incl. dispersion suffix; psi4 applies the dispersion."""
    version = _version("psi4", spec, _PSI4_MISSING)
    functional, dispersion = parsed.functional, parsed.dispersion
    if functional in _BLOCKED and (dispersion is not None or functional == "wb97x-d"):
        raise _unknown(spec, _BLOCKED[functional])
    key = functional
    if functional in _SPECIAL_FUNCTIONALS and functional not in _B97_FAMILY:
        _, method, _, builtin = _SPECIAL_FUNCTIONALS[functional]
        if dispersion is not None and dispersion != builtin:
            raise _unknown(spec, f"{functional} comes with its own {builtin} dispersion")
        dispersion = builtin
    elif functional in _B97_FAMILY and (dispersion is not None or functional == "b97-d"):
        key, dispersion = "b97", dispersion or "d2"
        method = "b97-d" if dispersion == "d2" else f"b97-{dispersion}"  # psi4: b97-d is B97-D2
    else:
        method = functional if dispersion is None else f"{functional}-{dispersion}"
    try:  # psi4's functional table, keyed by lower-case name incl. the dispersion suffix
        from psi4.driver.procrouting.dft import functionals as psi4_functionals
    except Exception:  # pragma: no cover - depends on the psi4 build
        psi4_functionals = None
    if psi4_functionals is not None and method not in psi4_functionals:
        raise _unknown(spec, f"unknown functional {method!r} for psi4")
    _check_psi4_basis(spec, parsed.basis)
    return LevelOfTheory(
        name=_dft_name(_Dft(key, method, dispersion, None), parsed.basis, "psi4"),
        code="psi4",
        method=method,
        basis=parsed.basis,
        dispersion=dispersion,
        settings={"options": dict(PSI4_DEFAULT_OPTIONS)},
        code_version=version,
    )


def _check_psi4_basis(spec: str, basis: str) -> None:  # pragma: no cover - needs psi4
    """psi4 looks basis sets up as <datadir>/basis/<mangled name>.gbs (and on PSIPATH)."""
    import os
    from pathlib import Path

    try:
        import psi4

        datadir = Path(psi4.core.get_datadir())
    except Exception:
        return  # cannot tell; psi4 itself will complain per structure
    mangled = basis.lower().replace("+", "p").replace("*", "s").replace("(", "_").replace(")", "_").replace(",", "_")
    folders = [datadir / "basis"] + [Path(p) for p in os.environ.get("PSIPATH", "").split(":") if p]
    if not any((folder / f"{mangled}.gbs").is_file() for folder in folders):
        raise _unknown(spec, f"unknown basis {basis!r} (no {mangled}.gbs in psi4's basis library)")


# --- ASE ------------------------------------------------------------------------------------------


def _ase_level_from_spec(spec: str, calculator: str) -> LevelOfTheory:
    try:
        return ase_level(calculator.strip())
    except UnknownLevelError as exc:
        raise _unknown(spec, str(exc)) from None


def _distribution_of(top_module: str) -> str | None:
    distributions = importlib.metadata.packages_distributions().get(top_module)
    return sorted(distributions)[0] if distributions else None


# --- helpers --------------------------------------------------------------------------------------


def _version(distribution: str, spec: str, missing: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise _unknown(spec, missing) from None


def _unknown(spec: str, reason: str | None = None) -> UnknownLevelError:
    known = ", ".join(known_level_names())
    grammar = (
        "or <functional>[-<dispersion>]/<basis>[@<code>] with dispersion one of "
        f"{', '.join(DISPERSIONS)} and code one of {', '.join(DFT_CODES)}, or ase:<module>:<Class>"
    )
    head = f"unknown level of theory {spec!r}" + (f": {reason}" if reason else "")
    return UnknownLevelError(f"{head}; known: {known}; {grammar}")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().strip("'\"")
    return text.splitlines()[0] if text else type(exc).__name__
