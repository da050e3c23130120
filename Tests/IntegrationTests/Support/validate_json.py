#!/usr/bin/python3
"""Validates JSON documents against a JSON Schema (draft 2020-12) with python3-jsonschema.

  validate_json.py [--strict] SCHEMA DOCUMENT...

--strict also refuses properties the schema does not list (additionalProperties: false is
added to every object schema that has "properties"): the published schema lets consumers
ignore new fields, the test wants every field the code emits to be documented.
Exit 0 when every document is valid, 1 with one line per error otherwise.
"""
import json, sys
import jsonschema


def strict(node):
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for value in node:
            strict(value)
    return node


args = sys.argv[1:]
is_strict = args[:1] == ["--strict"]
if is_strict:
    args = args[1:]
with open(args[0]) as f:
    schema = json.load(f)
jsonschema.Draft202012Validator.check_schema(schema)
if is_strict:
    schema = strict(schema)
validator = jsonschema.Draft202012Validator(schema)
failed = False
for path in args[1:]:
    with open(path) as f:
        document = json.load(f)
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        failed = True
        where = "/".join(str(p) for p in error.absolute_path)
        print(f"{path}: /{where}: {error.message}")
sys.exit(1 if failed else 0)
