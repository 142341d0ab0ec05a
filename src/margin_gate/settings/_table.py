"""`Table`: typed reads from one TOML table that remember which keys were read, so `close()`
can refuse the rest by name. Key material is read here from env/file (`secret`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from decimal import InvalidOperation
from pathlib import Path
from typing import cast

from margin_gate.settings.model import ConfigError
from margin_gate.settings.model import Secret

__all__ = ["Table"]

_MISSING = object()


class Table:
    """Typed reads from one TOML table that remember which keys were read (see `close`)."""

    def __init__(
        self,
        data: object,
        path: str,
        base_dir: Path,
        env: Mapping[str, str],
        *,
        sections: tuple[str, ...] = (),
    ) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: expected a table")
        self._data: Mapping[str, object] = data
        self._path = path
        self._base_dir = base_dir
        self._env = env
        self._seen: set[str] = set()
        self._sections = sections

    def key(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def names(self) -> list[str]:
        return list(self._data)

    def close(self) -> None:
        for name in self._data:
            if name not in self._seen:
                if not self._path:
                    known = ", ".join(self._sections)
                    raise ConfigError(f"{name}: unknown section (known: {known})")
                raise ConfigError(f"{self.key(name)}: unknown key")

    def _get(self, name: str) -> object:
        self._seen.add(name)
        return self._data.get(name, _MISSING)

    def _bad(self, name: str, what: str, value: object) -> ConfigError:
        return ConfigError(f"{self.key(name)}: expected {what}, got {value!r}")

    def table(self, name: str) -> Table:
        value = self._get(name)
        return Table({} if value is _MISSING else value, self.key(name), self._base_dir, self._env)

    def tables(self, name: str) -> dict[str, Table]:
        outer = self.table(name)
        result = {}
        for sub in outer.names():
            if not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", sub):
                raise ConfigError(f"{outer.key(sub)}: a name is letters, digits, _ or -")
            result[sub] = outer.table(sub)
        return result

    def str_(self, name: str, default: object = _MISSING) -> str:
        value = self._get(name)
        if value is _MISSING:
            if default is _MISSING:
                raise ConfigError(f"{self.key(name)}: required")
            return cast(str, default)
        if not isinstance(value, str) or not value:
            raise self._bad(name, "a non-empty string", value)
        return value

    def opt_str(self, name: str) -> str | None:
        if name not in self._data:
            self._seen.add(name)
            return None
        return self.str_(name)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.str_(name, default)
        if value not in choices:
            raise self._bad(name, " or ".join(repr(c) for c in choices), value)
        return value

    def int_(self, name: str, default: int, *, lo: int, hi: int | None = None) -> int:
        value = self._get(name)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(name, "an integer", value)
        if value < lo or (hi is not None and value > hi):
            raise self._bad(name, f"an integer in [{lo}, {hi if hi is not None else '...'}]", value)
        return value

    def float_(self, name: str, default: float, *, lo: float, hi: float) -> float:
        value = self._get(name)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(name, "a number", value)
        if not lo <= value <= hi:
            raise self._bad(name, f"a number in [{lo}, {hi}]", value)
        return float(value)

    def bool_(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            raise self._bad(name, "true or false", value)
        return value

    def opt_decimal(self, name: str) -> Decimal | None:
        value = self._get(name)
        if value is _MISSING:
            return None
        if not isinstance(value, str):
            raise self._bad(name, 'a decimal string such as "1.5"', value)
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise self._bad(name, 'a decimal string such as "1.5"', value) from None
        if not result.is_finite():
            raise self._bad(name, "a finite decimal", value)
        return result

    def opt_str_list(self, name: str) -> list[str] | None:
        value = self._get(name)
        if value is _MISSING:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(name, "a list of strings", value)
        return cast(list[str], value)

    def path(self, name: str, default: Path) -> Path:
        value = self.str_(name, str(default))
        return self._resolve(value)

    def opt_path(self, name: str) -> Path | None:
        value = self.opt_str(name)
        return None if value is None else self._resolve(value)

    def _resolve(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else self._base_dir / p

    def secret(self, name: str) -> Secret:
        """Key material from {env = ...} or {file = ...}; an inline value is refused."""
        value = self._get(name)
        if value is _MISSING:
            raise ConfigError(f'{self.key(name)}: required ({{env = "..."}} or {{file = "..."}})')
        if isinstance(value, str):
            raise ConfigError(
                f'{self.key(name)}: inline secrets are refused; use {{env = "NAME"}} '
                f'or {{file = "PATH"}}'
            )
        return self._read_source(name, value)

    def opt_str_or_secret(self, name: str) -> tuple[str, bool] | None:
        """A string given inline or, when it may carry a password, from {env = ...} or
        {file = ...}: (value, given inline); None when absent."""
        value = self._get(name)
        if value is _MISSING:
            return None
        if isinstance(value, str):
            return self.str_(name), True
        return self._read_source(name, value).value.decode("ascii"), False

    def key_material(self, name: str) -> Secret:
        """An API key: inline (it identifies, it does not sign) or from env/file."""
        value = self._get(name)
        if isinstance(value, str) and value:
            return Secret(value.encode("ascii", "replace"), "inline")
        if value is _MISSING:
            raise ConfigError(f"{self.key(name)}: required")
        return self._read_source(name, value)

    def _read_source(self, name: str, value: object) -> Secret:
        key = self.key(name)
        if not isinstance(value, Mapping) or len(value) != 1:
            raise ConfigError(f'{key}: expected {{env = "NAME"}} or {{file = "PATH"}}')
        ((kind, ref),) = value.items()
        if kind not in ("env", "file") or not isinstance(ref, str) or not ref:
            raise ConfigError(f'{key}: expected {{env = "NAME"}} or {{file = "PATH"}}')
        if kind == "env":
            raw = self._env.get(ref)
            if raw is None or not raw.strip():
                raise ConfigError(f"{key}: environment variable {ref} is not set")
            material = raw.strip().encode("utf-8")
        else:
            path = self._resolve(ref)
            try:
                material = path.read_bytes().strip()
            except OSError as exc:
                raise ConfigError(f"{key}: cannot read {path} ({exc.strerror})") from None
            if not material:
                raise ConfigError(f"{key}: {path} is empty")
        try:
            material.decode("ascii")
        except UnicodeDecodeError:
            raise ConfigError(f"{key}: key material must be ASCII ({kind}:{ref})") from None
        return Secret(material, f"{kind}:{ref}")
