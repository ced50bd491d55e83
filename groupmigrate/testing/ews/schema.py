"""Microsoft's EWS schema: loading it into lxml, validating requests, reading type layouts.

The schema files in ``schema/`` are Microsoft's ``types.xsd``, ``messages.xsd`` and
``services.wsdl`` as published, unmodified. Loading them into lxml (libxml2) needs changes
that are made in memory at load time, never in the files:

1. ``types.xsd`` imports the ``xml:`` namespace (for ``xml:lang``) without a
   ``schemaLocation``; .NET knows that namespace built in, libxml2 does not and would try the
   network. The import is pointed at the small ``xml.xsd`` shipped next to the schema.
2. ``ArrayOfTransitionsType`` is a sequence of ``AbsoluteDateTransition``,
   ``RecurringDayTransition``, ``RecurringDateTransition`` and ``Transition``, each optional
   and repeated; the first three are members of ``Transition``'s substitution group, which
   breaks the unique particle attribution rule that libxml2 enforces. The sequence is replaced
   by ``Transition`` alone (minOccurs 0, unbounded), which accepts the same documents (any of
   the four, repeated) in any order.

Profiles may add values to ``DistinguishedFolderIdNameType``: Exchange Online serves a newer
schema than the published one, which names more well-known folders (``allitems``,
``recoverableitemssubstrateholds``, ...). That extension is made the same way, per profile.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Optional

from lxml import etree

__all__ = ["SchemaSet", "TypeInfo", "load_schema", "type_info", "wsdl_operations", "SCHEMA_DIR"]

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
XS = "http://www.w3.org/2001/XMLSchema"
XML_NS = "http://www.w3.org/XML/1998/namespace"
MESSAGES_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"


def _xs(name: str) -> str:
    return f"{{{XS}}}{name}"


def _patched_types(extra_distinguished: tuple[str, ...]) -> etree._ElementTree:
    tree = etree.parse(str(SCHEMA_DIR / "types.xsd"))
    root = tree.getroot()
    for imp in root.iter(_xs("import")):
        if imp.get("namespace") == XML_NS and not imp.get("schemaLocation"):
            imp.set("schemaLocation", "xml.xsd")  # relaxation 1, see the module docstring
    for ctype in root.iter(_xs("complexType")):
        if ctype.get("name") == "ArrayOfTransitionsType":  # relaxation 2, see the module docstring
            seq = ctype.find(_xs("sequence"))
            if seq is not None:
                for child in list(seq):
                    if child.get("ref") != "t:Transition":
                        seq.remove(child)
    if extra_distinguished:
        for stype in root.iter(_xs("simpleType")):
            if stype.get("name") == "DistinguishedFolderIdNameType":
                restriction = stype.find(_xs("restriction"))
                assert restriction is not None
                known = {e.get("value") for e in restriction.iter(_xs("enumeration"))}
                for name in extra_distinguished:
                    if name not in known:
                        etree.SubElement(restriction, _xs("enumeration"), value=name)
    return tree


class _Resolver(etree.Resolver):  # type: ignore[misc]
    def __init__(self, types_bytes: bytes) -> None:
        super().__init__()
        self._types = types_bytes

    def resolve(self, system_url: str, public_id: str, context: object) -> object:
        name = system_url.replace("\\", "/").rsplit("/", 1)[-1]
        if name == "types.xsd":
            return self.resolve_string(self._types, context, base_url=str(SCHEMA_DIR / "types.xsd"))
        if name in ("messages.xsd", "xml.xsd"):
            return self.resolve_filename(str(SCHEMA_DIR / name), context)
        return None


#: libxml2 does not compile schemas that import others (here the ``xml:`` namespace) reliably
#: while other threads parse: rarely, a compilation fails to resolve ``xml:lang`` although the
#: import is found. Compilations are serialised, and one that fails that way is tried again.
_BUILD_LOCK = threading.Lock()
_BUILD_ATTEMPTS = 4


def _build(extra_distinguished: tuple[str, ...]) -> etree.XMLSchema:
    with _BUILD_LOCK:
        for attempt in range(1, _BUILD_ATTEMPTS + 1):
            try:
                return _compile(extra_distinguished)
            except etree.XMLSchemaParseError:
                if attempt == _BUILD_ATTEMPTS:
                    raise
    raise AssertionError("unreachable")


def _compile(extra_distinguished: tuple[str, ...]) -> etree.XMLSchema:
    types_bytes = etree.tostring(_patched_types(extra_distinguished))
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_Resolver(types_bytes))
    wrapper = (
        f'<xs:schema xmlns:xs="{XS}"><xs:import namespace="{MESSAGES_NS}" '
        f'schemaLocation="messages.xsd"/></xs:schema>'
    ).encode()
    doc = etree.fromstring(wrapper, parser, base_url=str(SCHEMA_DIR / "wrapper.xsd"))
    return etree.XMLSchema(etree.ElementTree(doc))


class SchemaSet:
    """A small pool of compiled schemas, so concurrent requests validate in parallel.

    A compiled lxml schema keeps its error log on the instance, so one instance serves one
    validation at a time.
    """

    def __init__(self, extra_distinguished: tuple[str, ...] = (), size: int = 4) -> None:
        self._extra = extra_distinguished
        self._size = size
        self._created = 0
        self._lock = threading.Lock()
        self._pool: queue.LifoQueue[etree.XMLSchema] = queue.LifoQueue()
        self._pool.put(_build(extra_distinguished))
        self._created = 1

    @contextmanager
    def _schema(self) -> Iterator[etree.XMLSchema]:
        try:
            schema = self._pool.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = self._created < self._size
                if grow:
                    self._created += 1
            schema = _build(self._extra) if grow else self._pool.get()
        try:
            yield schema
        finally:
            self._pool.put(schema)

    def validate(self, element: etree._Element) -> Optional[tuple[int, int, str]]:
        """Validate ``element`` (a global element of the EWS schema) as a document root.

        Returns None when valid, else ``(line, column, message)`` of the first violation.
        """
        with self._schema() as schema:
            if schema.validate(element):
                return None
            errors = list(schema.error_log)
        if not errors:
            return (0, 0, "The request failed schema validation.")
        err = errors[0]
        return (err.line, err.column, err.message)


_schema_cache: dict[tuple[str, ...], SchemaSet] = {}
_schema_lock = threading.Lock()


def load_schema(extra_distinguished: Iterable[str] = ()) -> SchemaSet:
    """The (process-wide, cached) validator for a profile's schema variant."""
    key = tuple(sorted(extra_distinguished))
    with _schema_lock:
        found = _schema_cache.get(key)
        if found is None:
            found = _schema_cache[key] = SchemaSet(key)
        return found


class TypeInfo:
    """What the server needs to know about the layout of the EWS types.

    ``order(type_name)`` gives the child element names of a complex type (base types first),
    in schema order, so that stored properties are written back in the order the schema
    requires. ``boolean_names`` / ``datetime_names`` / ``date_names`` are element names
    declared with that simple type everywhere they occur.
    """

    def __init__(self) -> None:
        tree = _patched_types(())
        root = tree.getroot()
        self._types: dict[str, etree._Element] = {}
        self._groups: dict[str, etree._Element] = {}
        self._element_types: dict[str, str] = {}
        for child in root:
            if child.tag == _xs("complexType") and child.get("name"):
                self._types[child.get("name")] = child
            elif child.tag == _xs("group") and child.get("name"):
                self._groups[child.get("name")] = child
            elif child.tag == _xs("element") and child.get("name") and child.get("type"):
                self._element_types[child.get("name")] = child.get("type")
        declared: dict[str, set[str]] = {}
        for el in root.iter(_xs("element")):
            name = el.get("name")
            if name:
                declared.setdefault(name, set()).add(el.get("type") or "")
        self.boolean_names = frozenset(n for n, ts in declared.items() if ts == {"xs:boolean"})
        self.datetime_names = frozenset(n for n, ts in declared.items() if ts == {"xs:dateTime"})
        self.date_names = frozenset(n for n, ts in declared.items() if ts == {"xs:date"})
        self._order_cache: dict[str, tuple[str, ...]] = {}
        self._child_type_cache: dict[str, dict[str, str]] = {}

    def _collect(self, node: etree._Element, out: list[tuple[str, str]]) -> None:
        for child in node:
            tag = child.tag
            if tag == _xs("element"):
                name = child.get("name")
                if name:
                    out.append((name, child.get("type") or ""))
                else:
                    ref = (child.get("ref") or "").split(":")[-1]
                    if ref:
                        out.append((ref, self._element_types.get(ref, "")))
            elif tag in (_xs("sequence"), _xs("choice"), _xs("all")):
                self._collect(child, out)
            elif tag == _xs("group"):
                ref = (child.get("ref") or "").split(":")[-1]
                group = self._groups.get(ref)
                if group is not None:
                    self._collect(group, out)
            elif tag in (_xs("complexContent"),):
                self._collect(child, out)
            elif tag in (_xs("extension"), _xs("restriction")):
                base = (child.get("base") or "").split(":")
                if len(base) == 2 and base[0] == "t" and tag == _xs("extension"):
                    out.extend(self._children(base[1]))
                self._collect(child, out)

    def _children(self, type_name: str) -> list[tuple[str, str]]:
        node = self._types.get(type_name)
        if node is None:
            return []
        out: list[tuple[str, str]] = []
        self._collect(node, out)
        return out

    def order(self, type_name: str) -> tuple[str, ...]:
        """Child element names of ``type_name`` in schema order (duplicates dropped)."""
        found = self._order_cache.get(type_name)
        if found is None:
            seen: dict[str, None] = {}
            for name, _ in self._children(type_name):
                seen.setdefault(name, None)
            found = self._order_cache[type_name] = tuple(seen)
        return found

    def child_types(self, type_name: str) -> dict[str, str]:
        """Map of child element name to its declared type (``t:Foo`` or ``xs:bar``)."""
        found = self._child_type_cache.get(type_name)
        if found is None:
            found = {}
            for name, typ in self._children(type_name):
                found.setdefault(name, typ)
            self._child_type_cache[type_name] = found
        return found


@lru_cache(maxsize=1)
def wsdl_operations() -> frozenset[str]:
    """The operation names ``services.wsdl`` defines (parsed once, under the build lock: see
    :data:`_BUILD_LOCK`; the service loads it before it takes requests)."""
    with _BUILD_LOCK:
        tree = etree.parse(str(SCHEMA_DIR / "services.wsdl"))
    ns = "http://schemas.xmlsoap.org/wsdl/"
    return frozenset(op.get("name") for op in tree.getroot().iter(f"{{{ns}}}operation") if op.get("name"))


@lru_cache(maxsize=1)
def type_info() -> TypeInfo:
    """The process-wide :class:`TypeInfo` (built once, under the build lock)."""
    with _BUILD_LOCK:
        return TypeInfo()
