"""Compiled programs that survive the process: traced once, then loaded from disk.

JAX's persistent compilation cache skips XLA compilation in a new process, but not
tracing, and tracing NumPyro's NUTS takes ~2 s of Python on every start, its
initialisation ~1 s more. Here a program over flat arrays is exported once
(``jax.export``, StableHLO) into the cache folder and later deserialized: a fresh
process then neither traces nor compiles it (the XLA executable comes from the
compilation cache). On the Chinchilla fit this took the warm start-up ("compile" in
summary.json) from 3.4 s to 0.65 s.

Programs take and return flat lists of arrays, so no custom pytree (NumPyro's
``HMCState``) has to be serialised; a small JSON file beside each program says what
its outputs are (e.g. the latent sites, in order).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Sequence

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .jaxsetup import default_cache_dir

FORMAT = 2  # bump when what is exported changes meaning


def package_versions(packages: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of ``packages`` ("unknown" for one not installed)."""
    out = {}
    for pkg in packages:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


@functools.lru_cache(maxsize=1)
def _source_digest() -> str:
    """A hash of this package's own source: a program exported by other code (an
    edited model, a development checkout) must never be loaded in its place, even
    when the version number did not change."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def program_key(*parts: object) -> str:
    """A file name for a program: a hash of everything its meaning depends on."""
    text = repr((FORMAT, package_versions(("jax", "jaxlib", "numpyro", "bayes-scaling")), _source_digest(), jax.default_backend(), jax.device_count(), parts))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _programs_dir() -> Path:
    cache = jax.config.jax_compilation_cache_dir
    return Path(cache or default_cache_dir()) / "programs"


def _specs(leaves: Sequence[jax.Array], sharding) -> list[jax.ShapeDtypeStruct]:
    return [jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding) for x in leaves]


def load_or_export(
    key: str,
    build: Callable[[], tuple[Callable, dict]],
    batched: Sequence[jax.Array],
    shared: Sequence[jax.Array],
    mesh: Mesh | None,
) -> tuple[Callable, dict]:
    """A compiled callable ``f(batched, shared)`` and the metadata saved with it.

    ``build()`` returns the Python function and a JSON-able dict describing its
    outputs; it is called (and the function traced) only on a cache miss. With a
    ``mesh``, ``batched`` leaves are split along their first axis across its devices.
    """
    path = _programs_dir() / f"{key}.bin"
    meta_path = path.with_suffix(".json")
    if mesh is not None:
        b_sh, s_sh = NamedSharding(mesh, PartitionSpec("chains")), NamedSharding(mesh, PartitionSpec())
    else:
        b_sh = s_sh = None
    exported, meta = None, None
    if path.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            exported = jax.export.deserialize(bytearray(path.read_bytes()))
        except Exception as err:  # a file from another jax version or a torn write: rebuild it
            warnings.warn(f"bayes-scaling: ignoring unreadable cached program {path.name}: {err}", stacklevel=2)
            exported, meta = None, None
    if exported is None:
        fn, meta = build()
        jitted = jax.jit(fn) if mesh is None else jax.jit(fn, in_shardings=(b_sh, s_sh))
        exported = jax.export.export(jitted)(_specs(batched, b_sh), _specs(shared, s_sh))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Metadata first, program last: a program file is only ever next to its metadata.
            _write_atomically(meta_path, json.dumps(meta).encode())
            _write_atomically(path, exported.serialize())
        except OSError as err:
            warnings.warn(f"bayes-scaling: could not cache a compiled program ({err}); the next process traces again", stacklevel=2)
    call = jax.jit(exported.call) if mesh is None else jax.jit(exported.call, in_shardings=(b_sh, s_sh))
    return call.lower(_specs(batched, b_sh), _specs(shared, s_sh)).compile(), meta


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
