# Tarballs and zips inside unpacked packages: one streaming pass copies out only the members recipes ask for.
import hashlib
import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from errors import CorpusError

MEMBER_SEPARATOR = "!/"


def _safe_member_name(name):
    """The member path with any leading ./ removed, or None if it could escape the extraction folder."""
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if not parts or name.startswith("/") or ".." in parts:
        return None
    return "/".join(parts)


def _copy_member(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        shutil.copyfileobj(source, out)


def _extract_tar(archive, archive_rel, wanted, dest):
    count = 0
    with tarfile.open(archive, "r|*") as tar:
        for member in tar:
            name = _safe_member_name(member.name)
            if member.isfile() and name and wanted(f"{archive_rel}{MEMBER_SEPARATOR}{name}"):
                _copy_member(tar.extractfile(member), dest / name)
                count += 1
    return count


def _extract_zip(archive, archive_rel, wanted, dest):
    count = 0
    with zipfile.ZipFile(archive) as z:
        for info in sorted(z.infolist(), key=lambda i: i.filename):
            name = _safe_member_name(info.filename)
            if not info.is_dir() and name and wanted(f"{archive_rel}{MEMBER_SEPARATOR}{name}"):
                with z.open(info) as member:
                    _copy_member(member, dest / name)
                count += 1
    return count


def unpack_members(root, archive_rel, wanted, wanted_id):
    """Copies members of root/archive_rel for which wanted(`archive_rel!/member`) holds into root/`archive_rel!`.

    wanted_id names the selection. Selections add up: members copied for another recipe stay (sampling filters
    by its own globs anyway), so recipes sharing a cache do not undo each other's work. A selection already
    copied is reused: returns None then, else the number of members copied.
    """
    archive = Path(root) / archive_rel
    dest = Path(root) / (archive_rel + "!")
    marker = Path(root) / (archive_rel + "!.done")
    stamp = hashlib.sha256(wanted_id.encode("utf-8")).hexdigest()
    done = marker.read_text().split() if marker.is_file() and dest.is_dir() else []
    if stamp in done:
        return None
    if not archive.is_file():
        raise CorpusError(f"{archive_rel}: no such archive in the unpacked package {Path(root).name}")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            count = _extract_zip(archive, archive_rel, wanted, dest)
        else:
            count = _extract_tar(archive, archive_rel, wanted, dest)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise CorpusError(f"{archive}: cannot read archive ({e})") from e
    marker.write_text("".join(f"{s}\n" for s in [*done, stamp]))
    return count
