# Sourced by scripts/*: create .venv and keep it in step with pyproject.toml (a stamp file keyed
# by the hash of pyproject.toml skips pip when nothing changed).
PY=${PYTHON:-python3}

ensure_venv() {  # $1: optional extra ("test", "bench")
  local extra=${1:-} spec="." stamp
  [ -n "$extra" ] && spec=".[$extra]"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  stamp=".venv/.stamp-${extra:-base}-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e "$spec"
    touch "$stamp"
  fi
}

ensure_side_venv() {  # $1: name under .venvs/, $2: requirement
  local dir=".venvs/$1" stamp
  stamp="$dir/.stamp-$(echo "$2" | sha256sum | cut -c1-16)"
  [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
  if [ ! -f "$stamp" ]; then
    "$dir/bin/python" -m pip install -q "$2"
    touch "$stamp"
  fi
}
