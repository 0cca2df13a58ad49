# Extractor for man pages: troff source rendered to plain UTF-8 text by groff (one page = one document).
import os
import subprocess

from errors import CorpusError, Rejected
from text import decode_utf8, read_bytes

# A very long line length makes groff set each paragraph on one line instead of justifying it with extra spaces.
GROFF_COMMAND = ["groff", "-t", "-k", "-Kutf-8", "-Tutf8", "-mandoc", "-rLL=2000n", "-rLT=2000n", "-P-cbou"]
_GROFF_TIMEOUT_S = 60


def is_so_redirect(source):
    """A page whose first request is `.so other.1` only points at another page."""
    for line in source.splitlines():
        if line.startswith(('.\\"', "'\\\"")) or not line.strip():
            continue
        return line.startswith(".so ")
    return False


def _strip_header_footer(rendered):
    """groff's first and last non-blank lines are the running header and footer (page name, section, date)."""
    lines = rendered.splitlines()
    body = [i for i, line in enumerate(lines) if line.strip()]
    if len(body) < 3:
        return ""
    return "\n".join(line.rstrip() for line in lines[body[0] + 1:body[-1]])


def render_man(source):
    try:
        result = subprocess.run(GROFF_COMMAND, input=source.encode("utf-8"), capture_output=True,
                                timeout=_GROFF_TIMEOUT_S, env={**os.environ, "LC_ALL": "C.UTF-8"}, check=False)
    except FileNotFoundError as e:
        raise CorpusError("groff is not installed (apt-get install groff-base)") from e
    except subprocess.TimeoutExpired as e:
        raise Rejected("groff timed out") from e
    if result.returncode != 0:
        raise Rejected("groff failed")
    return _strip_header_footer(decode_utf8(result.stdout))


def extract_man(path, options):
    source = decode_utf8(read_bytes(path))
    if is_so_redirect(source):
        raise Rejected("man page that only .so-includes another")
    return [("", render_man(source))]
