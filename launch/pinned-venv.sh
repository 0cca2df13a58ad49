# Sourced by the scripts that make Python venvs: make_pinned_venv, one venv from one file of exact pins.
# shellcheck shell=bash
#
# make_pinned_venv REQUIREMENTS VENV [python -m venv option ...]
# Installs REQUIREMENTS with pip --no-deps, wheels only, into VENV (made by Debian's python3), so that the file is
# the whole set of what is installed. An isolated venv must then pass `pip check` (the set is closed); one made with
# --system-site-packages builds on Debian's packages, whose own metadata pip check would judge too, so it is not
# run there. A venv made from the same file as it is now is kept, silently; otherwise it is made anew. The stamp
# VENV/requirements.sha256, written last so that only a complete venv has it, is `sha256sum REQUIREMENTS` (run from
# the repository root: tests/reference/venv-python.sh checks it with `sha256sum --check`).
make_pinned_venv() {
  local requirements="$1" venv="$2"
  shift 2
  local stamp="$venv/requirements.sha256" want start=$SECONDS problems
  want="$(sha256sum "$requirements")"
  if [[ -x "$venv/bin/python" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
    return 0
  fi
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$@" "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    -r "$requirements"
  if [[ " $* " != *" --system-site-packages "* ]] &&
    ! problems="$("$venv/bin/python" -m pip check --disable-pip-version-check)"; then
    echo "make_pinned_venv: $requirements is not a closed set: $problems" >&2
    return 1
  fi
  echo "$want" > "$stamp"
  echo "make_pinned_venv: made $venv from $requirements in $((SECONDS - start)) s" >&2
}
