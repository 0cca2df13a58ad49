# Debian packages for the corpus: `apt-get download` into a cache, versions, `dpkg -x`, listing unpacked files.
from dataclasses import dataclass
import functools
import os
from pathlib import Path
import shutil
import subprocess

from errors import CorpusError


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    deb: Path


def _run(command, cwd=None):
    try:
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise CorpusError(f"{command[0]}: not installed (the corpus builder needs Debian's apt and dpkg)") from e


def deb_field(deb, name):
    result = _run(["dpkg-deb", "-f", str(deb), name])
    if result.returncode != 0 or not result.stdout.strip():
        raise CorpusError(f"{deb}: not a readable .deb ({result.stderr.strip() or 'no ' + name + ' field'})")
    return result.stdout.strip()


def _compare_versions(a, b):
    if a == b:
        return 0
    return -1 if _run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0 else 1


def _cached_debs(deb_dir, name):
    return sorted(deb_dir.glob(f"{name}_*.deb"))


def _newest(deb_dir, name):
    """The newest cached .deb of the package: a cache keeps building the same corpus until it is refreshed."""
    debs = _cached_debs(deb_dir, name)
    if not debs:
        return None
    versions = {deb: deb_field(deb, "Version") for deb in debs}
    best = max(debs, key=functools.cmp_to_key(lambda a, b: _compare_versions(versions[a], versions[b])))
    return Package(name, versions[best], best)


def _apt_download(deb_dir, names):
    return _run(["apt-get", "download", *names], cwd=deb_dir)


def download(deb_dir, names, log):
    """Fetches the packages missing from the cache; returns the names that apt could not provide."""
    deb_dir.mkdir(parents=True, exist_ok=True)
    missing = [name for name in names if not _cached_debs(deb_dir, name)]
    if not missing:
        return []
    log(f"downloading {len(missing)} packages with apt-get download")
    if _apt_download(deb_dir, missing).returncode == 0:
        return []
    log("apt-get download failed; running apt-get update and retrying one package at a time")
    _run(["apt-get", "update", "-qq"])
    return [name for name in missing if _apt_download(deb_dir, [name]).returncode != 0]


def resolve(deb_dir, names):
    """{name: Package} for every package with a .deb in the cache."""
    packages = {}
    for name in names:
        package = _newest(deb_dir, name)
        if package is not None:
            packages[name] = package
    return packages


def unpack(package, unpacked_dir):
    """`dpkg -x` into unpacked_dir/<deb name>, once: a finished tree is renamed into place, so it is never partial."""
    target = unpacked_dir / package.deb.stem
    if target.is_dir():
        return target
    partial = unpacked_dir / (package.deb.stem + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    result = _run(["dpkg", "-x", str(package.deb), str(partial)])
    if result.returncode != 0:
        raise CorpusError(f"{package.deb}: dpkg -x failed ({result.stderr.strip()})")
    partial.rename(target)
    return target


def list_files(root):
    """Relative POSIX paths of the regular files under root (symlinks skipped: they point at files listed anyway)."""
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        for name in names:
            full = os.path.join(folder, name)
            if not os.path.islink(full) and os.path.isfile(full):
                files.append(os.path.relpath(full, root).replace(os.sep, "/"))
    return sorted(files)
