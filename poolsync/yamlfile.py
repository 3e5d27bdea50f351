"""Load a YAML file into typed objects, with errors that point at the offending key.

The config, the lab topology and other user-written files share this machinery so that
every error reads the same way::

    poolsync.yaml: directory.dc.url: expected an ldap:// or ldaps:// URL, got 'http://dc'
    poolsync.yaml: directory.bind.user: required key is missing
    lab.yaml: servers[2].licenses: unknown key 'vn' (allowed: inbox, ports, secondary, um, vm)

Entry points: :func:`load_yaml_mapping` reads a file into a :class:`Node`; a ``Node``'s
typed accessors (``required_str``, ``optional_int``, ``child``, ``mapping_list``,
``choice`` ...) read one key each and raise the caller's :class:`UserError` subclass.
Only pyyaml's ``SafeLoader`` is used: a user file never constructs arbitrary objects.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, overload

import yaml

from poolsync.errors import UserError

_S = TypeVar("_S", bound=str)
_MAX_SHOWN = 60


def describe(value: object) -> str:
    """A short, readable rendering of a YAML value for "got ..." in messages.

    Containers are named, never printed: they can be huge or self-referencing.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # Python refuses to print very long ints; nobody wants to read one anyway.
        return repr(value) if value.bit_length() <= 64 else "a very large integer"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if not value:
            return "an empty string"
        if len(value) > _MAX_SHOWN:
            return repr(value[: _MAX_SHOWN - 3] + "...")
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, set | frozenset):
        return "a set"
    if isinstance(value, bytes):
        return "binary data"
    if isinstance(value, datetime.datetime):
        return f"a timestamp ({value.isoformat()})"
    if isinstance(value, datetime.date):
        return f"a date ({value.isoformat()})"
    return f"a {type(value).__name__}"


def _range_text(
    minimum: float | None, maximum: float | None, *, exclusive_min: bool = False
) -> str:
    if minimum is not None and maximum is not None and not exclusive_min:
        return f" from {minimum} to {maximum}"
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if exclusive_min else '>='} {minimum}")
    if maximum is not None:
        parts.append(f"<= {maximum}")
    return (" " + " and ".join(parts)) if parts else ""


@dataclass(frozen=True)
class Node:
    """One mapping of a YAML file, with where it sits: the file and the key path.

    ``keypath`` is ``""`` for the top level, else e.g. ``directory.tls`` or
    ``servers[2].licenses``. Accessors raise ``error_type`` with messages of the form
    ``"{file}: {keypath}: expected {what}, got {value}"``.
    """

    file: Path
    keypath: str
    data: Mapping[str, object] = field(repr=False)
    error_type: type[UserError] = field(repr=False)

    @classmethod
    def wrap(cls, value: object, *, file: Path, keypath: str, error_type: type[UserError]) -> Node:
        """Check that ``value`` is a mapping with string keys and wrap it."""
        if not isinstance(value, Mapping):
            where = f"{file}: {keypath}: " if keypath else f"{file}: "
            raise error_type(f"{where}expected a mapping, got {describe(value)}")
        for key in value:
            if not isinstance(key, str):
                where = f"{file}: {keypath}: " if keypath else f"{file}: "
                raise error_type(
                    f"{where}expected a mapping with string keys, got key {describe(key)}"
                )
        return cls(file=file, keypath=keypath, data=value, error_type=error_type)

    # -- where and errors -------------------------------------------------------------

    def path_of(self, key: str | int | None = None) -> str:
        """The key path of a child (``key`` a str) or list item (``key`` an int)."""
        if key is None:
            return self.keypath
        if isinstance(key, int):
            return f"{self.keypath}[{key}]"
        return f"{self.keypath}.{key}" if self.keypath else key

    def error(self, message: str, *, key: str | None = None) -> UserError:
        """An error located at this node (or at its child ``key``)."""
        path = self.path_of(key)
        where = f"{self.file}: {path}: " if path else f"{self.file}: "
        return self.error_type(where + message)

    def expected(self, what: str, value: object, *, key: str | None = None) -> UserError:
        return self.error(f"expected {what}, got {describe(value)}", key=key)

    def missing(self, key: str) -> UserError:
        return self.error("required key is missing", key=key)

    # -- raw access -------------------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def keys(self) -> list[str]:
        return list(self.data)

    def raw(self, key: str) -> object:
        """The value of a required key, unchecked."""
        if key not in self.data:
            raise self.missing(key)
        return self.data[key]

    def check_keys(self, allowed: Iterable[str]) -> None:
        """Reject keys outside ``allowed``, naming them and listing the allowed ones."""
        allowed_set = set(allowed)
        unknown = [k for k in self.data if k not in allowed_set]
        if not unknown:
            return
        names = ", ".join(repr(k) for k in unknown)
        noun = "key" if len(unknown) == 1 else "keys"
        listing = ", ".join(sorted(allowed_set)) or "none"
        raise self.error(f"unknown {noun} {names} (allowed: {listing})")

    # -- strings ----------------------------------------------------------------------

    def required_str(self, key: str, *, allow_empty: bool = False) -> str:
        return self._str(key, self.raw(key), allow_empty=allow_empty)

    @overload
    def optional_str(self, key: str, *, default: str, allow_empty: bool = ...) -> str: ...
    @overload
    def optional_str(
        self, key: str, *, default: None = ..., allow_empty: bool = ...
    ) -> str | None: ...
    def optional_str(
        self, key: str, *, default: str | None = None, allow_empty: bool = False
    ) -> str | None:
        if key not in self.data:
            return default
        return self._str(key, self.data[key], allow_empty=allow_empty)

    def _str(self, key: str, value: object, *, allow_empty: bool) -> str:
        if not isinstance(value, str):
            what = "a string" if allow_empty else "a non-empty string"
            hint = " (quote it)" if isinstance(value, int | float) else ""
            raise self.error(f"expected {what}{hint}, got {describe(value)}", key=key)
        if not value and not allow_empty:
            raise self.expected("a non-empty string", value, key=key)
        return value

    # -- numbers ----------------------------------------------------------------------

    def required_int(
        self, key: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        return self._int(key, self.raw(key), minimum, maximum)

    def optional_int(
        self,
        key: str,
        *,
        default: int,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        if key not in self.data:
            return default
        return self._int(key, self.data[key], minimum, maximum)

    def _int(self, key: str, value: object, minimum: int | None, maximum: int | None) -> int:
        what = "an integer" + _range_text(minimum, maximum)
        # bool is an int subclass: "vm: yes" must not count as 1 seat.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.expected(what, value, key=key)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.expected(what, value, key=key)
        return value

    def optional_number(
        self,
        key: str,
        *,
        default: float,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive_min: bool = False,
    ) -> float:
        """A finite int or float; ``exclusive_min`` makes ``minimum`` a strict bound."""
        if key not in self.data:
            return default
        value = self.data[key]
        what = "a number" + _range_text(minimum, maximum, exclusive_min=exclusive_min)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.expected(what, value, key=key)
        try:
            number = float(value)
        except OverflowError:
            raise self.expected(what, value, key=key) from None
        if not math.isfinite(number):
            raise self.expected(what, value, key=key)
        if minimum is not None and (number <= minimum if exclusive_min else number < minimum):
            raise self.expected(what, value, key=key)
        if maximum is not None and number > maximum:
            raise self.expected(what, value, key=key)
        return number

    # -- booleans ---------------------------------------------------------------------

    def required_bool(self, key: str) -> bool:
        return self._bool(key, self.raw(key))

    def optional_bool(self, key: str, *, default: bool) -> bool:
        if key not in self.data:
            return default
        return self._bool(key, self.data[key])

    def _bool(self, key: str, value: object) -> bool:
        if not isinstance(value, bool):
            raise self.expected("true or false", value, key=key)
        return value

    # -- choices ----------------------------------------------------------------------

    def choice(self, key: str, options: Sequence[_S], *, default: _S | None = None) -> _S:
        """One of ``options`` (a required key when ``default`` is None)."""
        if key not in self.data:
            if default is None:
                raise self.missing(key)
            return default
        value = self.data[key]
        for option in options:
            if value == option:
                return option
        raise self.expected("one of " + ", ".join(options), value, key=key)

    # -- nested mappings and lists ----------------------------------------------------

    def child(self, key: str) -> Node:
        """A required nested mapping."""
        return self._wrap(self.raw(key), self.path_of(key))

    def optional_child(self, key: str) -> Node | None:
        if key not in self.data:
            return None
        return self._wrap(self.data[key], self.path_of(key))

    def child_or_empty(self, key: str) -> Node:
        """A nested mapping, or an empty one (all defaults) when the key is absent."""
        if key not in self.data:
            return Node(self.file, self.path_of(key), {}, self.error_type)
        return self._wrap(self.data[key], self.path_of(key))

    def mapping_list(
        self, key: str, *, required: bool = True, min_items: int = 0
    ) -> tuple[Node, ...]:
        """A list of mappings; items' key paths are ``key[0]``, ``key[1]`` ..."""
        if key not in self.data:
            if required:
                raise self.missing(key)
            return ()
        value = self.data[key]
        if not isinstance(value, list):
            raise self.expected("a list of mappings", value, key=key)
        if len(value) < min_items:
            noun = "item" if min_items == 1 else "items"
            raise self.error(
                f"expected a list of at least {min_items} {noun}, got {len(value)}", key=key
            )
        base = self.path_of(key)
        return tuple(self._wrap(item, f"{base}[{i}]") for i, item in enumerate(value))

    def _wrap(self, value: object, keypath: str) -> Node:
        return Node.wrap(value, file=self.file, keypath=keypath, error_type=self.error_type)


class _SafeLoader(yaml.SafeLoader):
    """pyyaml's safe loader, whose scalar constructors' crashes on an explicit tag
    (``!!int ""`` raises IndexError, ``!!bool x`` KeyError, ``!!timestamp x``
    AttributeError) become ConstructorErrors with the scalar's line and column.

    Their ValueErrors (the timestamp 2024-13-01, ``!!int 0x``) say what is wrong and
    are reported as they are.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (LookupError, AttributeError, TypeError) as exc:
            if not isinstance(node, yaml.ScalarNode):
                raise
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise yaml.constructor.ConstructorError(
                None, None, f"{describe(node.value)} is not a valid {tag}", node.start_mark
            ) from exc


def _load(text: bytes) -> object:
    loader = _SafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml_mapping(path: Path, *, error: type[UserError]) -> Node:
    """Read ``path`` as one YAML document whose top level is a mapping.

    Every failure (unreadable file, YAML syntax, a top level that is not a mapping)
    raises ``error`` with a message that starts with the file name.
    """
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return load_yaml_bytes(path, text, error=error)


def load_yaml_bytes(path: Path, text: bytes, *, error: type[UserError]) -> Node:
    """:func:`load_yaml_mapping` of bytes already read from ``path``."""
    try:
        document = _load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # pyyaml splits a message into context ("while parsing a flow sequence") and
        # problem ("expected ',' or ']', but got '<stream end>'"); either may be None.
        problem = ", ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise error(f"{path}: {where}not valid YAML: {' '.join(problem.split())}") from exc
    except yaml.reader.ReaderError as exc:
        # Bytes the detected encoding cannot decode, or a character YAML forbids (NUL,
        # most control characters). Its str() takes two lines; errors here take one.
        if exc.encoding == "unicode":
            problem = (
                f"character {exc.position + 1} is U+{exc.character:04X}, which YAML does not allow"
            )
        else:
            problem = f"not {exc.encoding} text at byte {exc.position + 1}: {exc.reason}"
        raise error(f"{path}: not valid YAML: {problem}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from exc
    except (ValueError, TypeError, OverflowError) as exc:
        # safe_load's constructors raise these for well-formed but impossible scalars
        # (e.g. the timestamp 2024-13-01, an int too long to convert).
        raise error(f"{path}: not valid YAML: {exc or type(exc).__name__}") from exc
    except RecursionError as exc:
        raise error(f"{path}: not valid YAML: nested too deeply") from exc
    if document is None:
        raise error(f"{path}: expected a mapping at the top level, got an empty document")
    if not isinstance(document, Mapping):
        raise error(f"{path}: expected a mapping at the top level, got {describe(document)}")
    return Node.wrap(document, file=path, keypath="", error_type=error)
