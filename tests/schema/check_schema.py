#!/usr/bin/env python3
"""`ferry schema` held to the loader, with the real ferry binary:

1. every example environment and playbook (the repository's environments/ and playbooks/, the
   files `ferry init` writes, and each ```yaml block of docs/*.md whose first line is
   `# environments/NAME.yaml` or `# playbooks/NAME.yaml`) validates against the schema and is
   accepted by `ferry validate`;
2. the loader accepts no key the schema lacks, and the schema none the loader refuses: an
   unknown key added to each mapping of each example is refused by both.
Usage: check_schema.py FERRY_BINARY SOURCE_DIR
"""
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import jsonschema
import yaml

FERRY, ROOT = sys.argv[1], sys.argv[2]
ENV = dict(os.environ, NO_COLOR="1", DB_PASSWORD="example-secret", DATABASE_URL="postgresql://app@db.example.com/app",
           HOOK_TOKEN="example-token")
# Maps whose keys are names the user chooses (any key is fine there), and column checks.
FREE = {"connections", "services", "headers", "columns"}


class Loader(yaml.SafeLoader):
    """YAML as ferry (yaml-cpp, YAML 1.2) reads it: `on:` is a key, not the boolean true."""


Loader.yaml_implicit_resolvers = {
    k: [r for r in v if r[0] != "tag:yaml.org,2002:bool"] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                             list("tTfF"))


def schema(kind):
    return json.loads(subprocess.check_output([FERRY, "schema", kind], env=ENV))


def read_project(root):
    """Every environment and playbook file of a project, by relative path."""
    files = {}
    for sub in ("environments", "playbooks"):
        for f in sorted(glob.glob(os.path.join(root, sub, "*.yaml"))):
            files[os.path.relpath(f, root)] = open(f).read()
    return files


def examples():
    """(kind, label, rel, project files, migrations dir or None) for each example file."""
    out = []
    repo = read_project(ROOT)
    for rel in repo:
        out.append(("environment" if rel.startswith("environments/") else "playbook", rel, rel, repo,
                    os.path.join(ROOT, "migrations")))
    init = tempfile.mkdtemp(prefix="ferry-schema-init")
    subprocess.check_call([FERRY, "init", init], env=ENV, stdout=subprocess.DEVNULL)
    made = read_project(init)
    shutil.rmtree(init)
    for rel in made:
        out.append(("environment" if rel.startswith("environments/") else "playbook", "ferry init: " + rel, rel, made,
                    None))
    for md in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        blocks = {}
        for block in re.findall(r"```yaml\n(.*?)```", open(md).read(), re.S):
            m = re.match(r"# ((environments|playbooks)/\S+\.yaml)", block)
            if m:
                blocks[m.group(1)] = block
        for rel in blocks:  # a page's marked blocks form one project
            out.append(("environment" if rel.startswith("environments/") else "playbook",
                        os.path.relpath(md, ROOT) + ": " + rel, rel, blocks, None))
    return out


def ferry_accepts(files, migrations):
    """`ferry validate` on a project made of `files`: (exit code, stderr)."""
    d = tempfile.mkdtemp(prefix="ferry-schema")
    try:
        for sub in ("environments", "playbooks"):
            os.makedirs(os.path.join(d, sub))
        if migrations:
            shutil.copytree(migrations, os.path.join(d, "migrations"))
        else:
            os.makedirs(os.path.join(d, "migrations"))
        for rel, body in files.items():
            open(os.path.join(d, rel), "w").write(body)
        r = subprocess.run([FERRY, "-C", d, "validate"], env=ENV, capture_output=True, text=True)
        return r.returncode, r.stderr
    finally:
        shutil.rmtree(d)


def mappings(node, path=()):
    """Paths of every mapping in the document where an unknown key must be refused."""
    if isinstance(node, dict):
        if not path or (path[-1] not in FREE and (len(path) < 2 or path[-2] != "columns")):
            yield path
        for k, v in node.items():
            yield from mappings(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from mappings(v, path + (i,))


def at(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def loader_keys():
    """Every key the readers in src/config accept: their expect_map lists and the step kinds."""
    keys = set()
    for f in glob.glob(os.path.join(ROOT, "src", "config", "*.cpp")):
        text = open(f).read()
        for call in re.findall(r"expect_map\((.*?)\);", text, re.S):
            m = re.search(r"\{([^{}]*)\}\s*$", call)
            if m:
                keys |= set(re.findall(r'"([^"]+)"', m.group(1)))
        m = re.search(r"k_step_kinds = \{([^}]*)\}", text)
        if m:
            keys |= set(re.findall(r'"([^"]+)"', m.group(1)))
    return keys


def schema_keys(node):
    keys = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "properties":
                keys |= set(v)
            keys |= schema_keys(v)
    elif isinstance(node, list):
        for v in node:
            keys |= schema_keys(v)
    return keys


def main():
    schemas = {k: schema(k) for k in ("environment", "playbook")}
    failures = []
    accepted, described = loader_keys(), schema_keys(list(schemas.values()))
    assert len(accepted) > 50, "could not read the loader's keys: %s" % sorted(accepted)
    for key in sorted(accepted - described):
        failures.append("key '%s' is accepted by the loader but not in the schema" % key)
    for key in sorted(described - accepted):
        failures.append("key '%s' is in the schema but the loader refuses it" % key)
    found = examples()
    assert any("docs/reference.md" in e[1] for e in found), "docs/reference.md has no marked example"
    for kind, label, rel, files, migrations in found:
        doc = yaml.load(files[rel], Loader=Loader)
        validator = jsonschema.Draft202012Validator(schemas[kind])
        errors = [e.message for e in validator.iter_errors(doc)]
        if errors:
            failures.append("%s: schema refuses it: %s" % (label, errors[0]))
        code, err = ferry_accepts(files, migrations)
        if code != 0:
            failures.append("%s: ferry validate refuses it: %s" % (label, err.strip()))
            continue
        for path in mappings(doc):
            mutated = copy.deepcopy(doc)
            at(mutated, path)["zz_unknown_key"] = "x"
            schema_ok = validator.is_valid(mutated)
            code, _ = ferry_accepts(dict(files, **{rel: yaml.safe_dump(mutated)}), migrations)
            if schema_ok or code != 64:
                failures.append("%s: unknown key at %s: schema %s, ferry validate exit %d" %
                                (label, "/".join(map(str, path)) or "top", "accepts" if schema_ok else "refuses", code))
    for f in failures:
        print("FAIL " + f)
    print("%d example(s), %d failure(s)" % (len(found), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
