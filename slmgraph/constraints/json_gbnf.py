"""JSON Schema -> GBNF, strict enough that every output parses with ``json.loads``.

Why our own converter: llama-cpp-python's converter lets raw control characters (a literal
newline or tab) into JSON strings, so small models produce output that ``json.loads`` rejects.
Here a string character is printable ASCII other than ``"`` and ``\\``, or a Unicode scalar value
from U+0080 (no surrogates, nothing above U+10FFFF — llama.cpp would otherwise accept byte
sequences that are not UTF-8), or a valid escape. Two more choices keep small models from wandering:

- whitespace between tokens is at most one space (an unbounded ``ws`` lets a model emit newlines
  until ``max_tokens``);
- numbers have at most 16 integer and 16 fraction digits.

Objects emit declared properties in order: required ones first, then optional ones, and no
additional properties when ``properties`` is given. Supported: ``type`` (also lists), ``enum``,
``const``, ``properties``/``required``/``additionalProperties``, ``items``/``prefixItems``,
``minItems``/``maxItems``, ``minLength``/``maxLength``, ``anyOf``/``oneOf``, ``$ref`` into
``$defs``/``definitions``, and ``{}`` (any JSON value). Anything else raises ``ValueError`` naming
the keyword, rather than silently producing a grammar that accepts the wrong thing.
"""

from __future__ import annotations

import json
import re
from typing import Any

_UNSUPPORTED = ("allOf", "not", "if", "then", "else", "patternProperties", "dependentSchemas")

PRIMITIVES: dict[str, str] = {
    "ws": '" "?',
    # Printable ASCII but '"' and '\', then every Unicode scalar value (no surrogates, nothing
    # above U+10FFFF: llama.cpp decodes F5-F7 lead bytes as "code points" a strict decoder rejects).
    "char": r"[\x20-\x21\x23-\x5B\x5D-\x7E\u0080-\uD7FF\uE000-\U0010FFFF]"
    r' | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})',
    "string": r'"\"" char* "\""',
    "integer": r'"-"? ("0" | [1-9] [0-9]{0,15})',
    "number": r'"-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?',
    "boolean": r'"true" | "false"',
    "null": r'"null"',
    "value": "object | array | string | number | boolean | null",
    "object": r'"{" ws ( string ws ":" ws value ( ws "," ws string ws ":" ws value )* )? ws "}"',
    "array": r'"[" ws ( value ( ws "," ws value )* )? ws "]"',
}

# Which primitives each primitive needs (so the grammar only carries what it uses).
_DEPS: dict[str, tuple[str, ...]] = {
    "string": ("char",),
    "value": ("object", "array", "string", "number", "boolean", "null"),
    "object": ("ws", "string", "value"),
    "array": ("ws", "value"),
}


def gbnf_literal(text: str) -> str:
    """A GBNF string literal matching ``text`` exactly."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\x{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


class _Converter:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.root_schema = schema
        self.rules: dict[str, str] = {}
        self.prims: set[str] = set()
        self.ref_rules: dict[str, str] = {}

    def use(self, prim: str) -> str:
        if prim not in self.prims:
            self.prims.add(prim)
            for dep in _DEPS.get(prim, ()):
                self.use(dep)
        return prim

    def add(self, name: str, body: str) -> str:
        name = re.sub(r"[^a-zA-Z0-9-]+", "-", name).strip("-") or "r"
        base, i = name, 1
        while (name in self.rules and self.rules[name] != body) or name in PRIMITIVES:
            i += 1
            name = f"{base}{i}"
        self.rules[name] = body
        return name

    def visit(self, schema: Any, name: str) -> str:
        """Return a GBNF expression for ``schema`` (adding rules as needed)."""
        if schema is True or schema == {}:
            return self.use("value")
        if schema is False:
            raise ValueError("a 'false' schema accepts nothing")
        if not isinstance(schema, dict):
            raise ValueError(f"schema at {name} must be an object")
        for key in _UNSUPPORTED:
            if key in schema:
                raise ValueError(f"JSON-schema keyword {key!r} is not supported (at {name})")
        if "$ref" in schema:
            return self.ref(schema["$ref"])
        if "const" in schema:
            return gbnf_literal(json.dumps(schema["const"], ensure_ascii=False))
        if "enum" in schema:
            return (
                "("
                + " | ".join(
                    gbnf_literal(json.dumps(v, ensure_ascii=False)) for v in schema["enum"]
                )
                + ")"
            )
        for key in ("anyOf", "oneOf"):
            if key in schema:
                alts = [self.visit(s, f"{name}-{i}") for i, s in enumerate(schema[key])]
                return "(" + " | ".join(alts) + ")"
        typ = schema.get("type")
        if isinstance(typ, list):
            alts = [self.visit({**schema, "type": t}, f"{name}-{t}") for t in typ]
            return "(" + " | ".join(alts) + ")"
        if typ is None:
            if "properties" in schema:
                typ = "object"
            elif "items" in schema:
                typ = "array"
            else:
                return self.use("value")
        if typ == "object":
            return self.obj(schema, name)
        if typ == "array":
            return self.arr(schema, name)
        if typ == "string":
            return self.string(schema, name)
        if typ in ("integer", "number", "boolean", "null"):
            return self.use(typ)
        raise ValueError(f"unknown JSON-schema type {typ!r} (at {name})")

    def ref(self, ref: str) -> str:
        if ref in self.ref_rules:
            return self.ref_rules[ref]
        m = re.fullmatch(r"#/(\$defs|definitions)/(.+)", ref)
        if not m or m.group(2) not in self.root_schema.get(m.group(1), {}):
            raise ValueError(f"unresolvable $ref {ref!r}")
        rule = self.add(f"ref-{m.group(2)}", "__pending__")
        self.ref_rules[ref] = rule
        self.rules[rule] = self.visit(self.root_schema[m.group(1)][m.group(2)], rule)
        return rule

    def string(self, schema: dict[str, Any], name: str) -> str:
        lo = int(schema.get("minLength", 0))
        hi = schema.get("maxLength")
        if lo == 0 and hi is None:
            return self.use("string")
        self.use("char")
        reps = f"{{{lo},{int(hi)}}}" if hi is not None else f"{{{lo},}}"
        return self.add(f"{name}-str", f'"\\"" char{reps} "\\""')

    def obj(self, schema: dict[str, Any], name: str) -> str:
        props: dict[str, Any] = schema.get("properties") or {}
        if not props:
            extra = schema.get("additionalProperties", True)
            if extra is False:
                self.use("ws")
                return '"{" ws "}"'
            if extra is True or extra == {}:
                return self.use("object")
            value = self.visit(extra, f"{name}-value")
            self.use("string")
            self.use("ws")
            kv = f'string ws ":" ws {value}'
            return self.add(name, f'"{{" ws ( {kv} ( ws "," ws {kv} )* )? ws "}}"')
        self.use("ws")
        required = [k for k in props if k in set(schema.get("required", []))]
        optional = [k for k in props if k not in required]
        kv_rule = {
            k: self.add(
                f"{name}-{k}-kv",
                f'{gbnf_literal(json.dumps(k))} ws ":" ws {self.visit(v, f"{name}-{k}")}',
            )
            for k, v in props.items()
        }
        body = '"{" ws '
        body += ' ws "," ws '.join(kv_rule[k] for k in required)

        def chain(keys: list[str], first_optional: bool) -> str:
            head, rest = keys[0], keys[1:]
            text = f'( ws "," ws {kv_rule[head]} )?' if first_optional else kv_rule[head]
            if rest:
                text += " " + self.add(f"{name}-{head}-rest", chain(rest, True))
            return text

        if optional:
            alts = " | ".join(chain(optional[i:], False) for i in range(len(optional)))
            body += f' ( ws "," ws ( {alts} ) )?' if required else f" ( {alts} )?"
        body += ' ws "}"'
        return self.add(name, body)

    def arr(self, schema: dict[str, Any], name: str) -> str:
        self.use("ws")
        lo = int(schema.get("minItems", 0))
        hi = schema.get("maxItems")
        prefix = schema.get("prefixItems")
        if prefix:
            items = [self.visit(s, f"{name}-{i}") for i, s in enumerate(prefix)]
            return self.add(name, '"[" ws ' + ' ws "," ws '.join(items) + ' ws "]"')
        item = self.visit(schema.get("items", {}), f"{name}-item")
        if hi is not None and int(hi) == 0:
            return self.add(name, '"[" ws "]"')
        tail_lo = max(lo - 1, 0)
        tail = f'( ws "," ws {item} )' + (
            f"{{{tail_lo},{int(hi) - 1}}}"
            if hi is not None
            else (f"{{{tail_lo},}}" if tail_lo else "*")
        )
        inner = f"{item} {tail}"
        body = f'"[" ws {inner} ws "]"' if lo >= 1 else f'"[" ws ( {inner} )? ws "]"'
        return self.add(name, body)


def json_schema_to_gbnf(schema: dict[str, Any]) -> str:
    """Compile a JSON Schema into a GBNF grammar whose root is the whole output."""
    conv = _Converter(schema)
    root_expr = conv.visit(schema, "root")
    if root_expr == "root":
        root_expr = conv.rules["root"]
    lines = [f"root ::= {root_expr}"]
    lines += [f"{k} ::= {v}" for k, v in conv.rules.items() if k != "root"]
    lines += [f"{k} ::= {PRIMITIVES[k]}" for k in PRIMITIVES if k in conv.prims]
    return "\n".join(lines) + "\n"
