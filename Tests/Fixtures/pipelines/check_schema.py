#!/usr/bin/env python3
"""Validates the pipeline fixtures against docs/pipeline.schema.json.

Every valid fixture (valid/*.yaml) and shared recipe (recipes/*.yaml) must pass the schema. Every
invalid fixture (invalid/*.yaml) whose problem the schema can express must be rejected, either by
the schema or because it is not YAML at all. Some problems are semantic -- missing files, import
cycles, variables, problems inside an imported file -- and a single-file schema cannot see them;
those fixtures are listed in SEMANTIC with the reason, and their schema result is only recorded.

Writes schema_results.json beside this script (committed); a Swift test reads it. Run from
anywhere: python3 Tests/Fixtures/pipelines/check_schema.py
Needs: jsonschema, PyYAML. Exits 1 if any expectation fails.
"""
import json
import pathlib
import sys

import jsonschema
import yaml

HERE = pathlib.Path(__file__).resolve().parent
SCHEMA = HERE.parents[2] / "docs" / "pipeline.schema.json"

# Invalid fixtures whose problem a schema for one file cannot express, and why.
SEMANTIC = {
    "duplicate-key.yaml": "PyYAML keeps the last of duplicate keys, so the schema sees a single key",
    "import-cycle.yaml": "import cycles span several files",
    "labels-missing.yaml": "the metric may come from an import (or its default), so labels cannot be required per file",
    "missing-data.yaml": "file existence",
    "missing-import.yaml": "file existence",
    "missing-model.yaml": "file existence",
    "outside-repository.yaml": "the repository boundary is a property of the file system",
    "bad-outputs.yaml": "where an output lands (inputs, the repository, .git, symlinks) is a property of the file system",
    "recipe-problems.yaml": "the problems are in an imported recipe",
    "unknown-variable.yaml": "variables are resolved across files",
    "device-outputs.yaml": "one output inside another output (the C folder) is a relation between paths",
}


def load(path):
    """The YAML document, or raises yaml.YAMLError."""
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def errors_of(validator, path):
    """Schema errors (or the YAML error) as sorted strings; empty when the file passes."""
    try:
        document = load(path)
    except yaml.YAMLError as error:
        return ["YAML: " + str(error).splitlines()[0]]
    return sorted(
        "/".join(str(p) for p in error.absolute_path) + ": " + error.message.splitlines()[0][:200]
        for error in validator.iter_errors(document)
    )


def main():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    results = {"schema": "docs/pipeline.schema.json", "valid": {}, "invalid": {}}
    failures = []

    for folder in ("valid", "recipes"):
        for path in sorted((HERE / folder).glob("*.yaml")):
            name = f"{folder}/{path.name}"
            errors = errors_of(validator, path)
            results["valid"][name] = {"passed": not errors, "errors": errors}
            if errors:
                failures.append(f"{name} should pass the schema: {errors}")

    present = set()
    for path in sorted((HERE / "invalid").glob("*.yaml")):
        present.add(path.name)
        errors = errors_of(validator, path)
        expressible = path.name not in SEMANTIC
        entry = {"schema_expressible": expressible, "rejected": bool(errors), "errors": errors}
        if not expressible:
            entry["reason"] = SEMANTIC[path.name]
        results["invalid"][f"invalid/{path.name}"] = entry
        if expressible and not errors:
            failures.append(f"invalid/{path.name} should be rejected by the schema")
    for stale in sorted(set(SEMANTIC) - present):
        failures.append(f"SEMANTIC names {stale}, which is not an invalid fixture")

    out = HERE / "schema_results.json"
    out.write_text(json.dumps(results, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    valid_count, invalid_count = len(results["valid"]), len(results["invalid"])
    for failure in failures:
        print("FAIL:", failure)
    print(f"{valid_count + invalid_count - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
