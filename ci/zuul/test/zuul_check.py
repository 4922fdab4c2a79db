"""Zuul's own code applied to the Zuul files of this repository (run in the venv with `zuul`).

usage:
  zuul_check.py config ROOT FILE...        load each file with Zuul's YAML loader and parse every
                                           object with Zuul's parsers (configloader), then check
                                           references: parents, playbooks, semaphores, secrets,
                                           project jobs
  zuul_check.py secret CLOUDS_YAML OUT_DIR encrypt a clouds.yaml for a fresh project key the way
                                           `zuul-client encrypt` does, write the secret stanza
                                           (OUT_DIR/secret.yaml), load and parse it with Zuul,
                                           decrypt it with the project key as the executor does,
                                           and write the Ansible variables a job gets
                                           (OUT_DIR/secret-vars.json, mode 0600)
  zuul_check.py returned LOG OUT           merge the zuul_return calls logged by the test's
                                           stand-in as Zuul's executor merges them, check them
                                           with Zuul's schemas (artifacts, warnings, file
                                           comments) and write the result data to OUT

Exit status 0 when everything holds; otherwise 1 with one line per problem on stderr.
"""

import json
import os
import sys
import types

import voluptuous as vs
from zuul import configloader, model
from zuul.lib import encryption, filecomments, result_data
from zuul.ansible import schema as result_schema

PROJECT = ("example.org/ops/image-catalog", "ops/image-catalog", "example.org")
HERE = ("example.org/image-manager", "image-manager", "example.org")


def fail(problems):
    for problem in problems:
        print(f"zuul_check: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


def source_context(project, path):
    canonical, name, connection = project
    ctx = model.SourceContext(canonical, name, connection, "main", path)
    return ctx


def parse_context():
    # The parsers of these objects need no connection, scheduler or Ansible manager (no
    # pipelines, no ansible-version); an empty connection registry is enough.
    connections = types.SimpleNamespace(connections={})
    return configloader.ParseContext(connections, None, None, None)


def load(project, root, path):
    """Zuul's loader (duplicate keys, !encrypted/pkcs1-oaep) and its split into object kinds."""
    rel = os.path.relpath(path, root)
    with open(path, encoding="utf-8") as f:
        data = configloader.safe_load_yaml(f.read(), source_context(project, rel))
    unparsed = model.UnparsedConfig()
    unparsed.extend(data)
    return unparsed


def parse(pcontext, unparsed, problems, where):
    parsed = {"jobs": [], "semaphores": [], "secrets": [], "projects": []}
    kinds = [
        ("jobs", pcontext.job_parser),
        ("semaphores", pcontext.semaphore_parser),
        ("secrets", pcontext.secret_parser),
        ("projects", pcontext.project_parser),
    ]
    for kind, parser in kinds:
        for conf in getattr(unparsed, kind):
            try:
                parsed[kind].append((conf, parser.fromYaml(conf)))
            except (vs.Invalid, Exception) as error:  # Zuul reports any exception as config error
                problems.append(f"{where}: {kind[:-1]} {conf.get('name', '')!r}: {error}")
    for kind in ("pipelines", "nodesets", "project_templates", "queues", "pragmas"):
        if getattr(unparsed, kind):
            problems.append(f"{where}: unexpected {kind} (operators define these)")
    problems.extend(f"{where}: {e.error}" for e in pcontext.error_list)
    return parsed


def cmd_config(root, files):
    problems = []
    pcontext = parse_context()
    jobs, semaphores, secrets, project_jobs = {}, set(), set(), []
    playbooks = []
    for path in files:
        project = HERE if os.path.basename(os.path.dirname(path)) == "zuul.d" else PROJECT
        rel = os.path.relpath(path, root)
        try:
            unparsed = load(project, root, path)
        except Exception as error:
            problems.append(f"{rel}: {error}")
            continue
        parsed = parse(pcontext, unparsed, problems, rel)
        for conf, job in parsed["jobs"]:
            jobs[job.name] = (conf, job)
            for pb in job.pre_run + job.run + job.post_run:
                playbooks.append((rel, job.name, pb.path, project))
        semaphores.update(s.name for _, s in parsed["semaphores"])
        secrets.update(s.name for _, s in parsed["secrets"])
        for conf, project_config in parsed["projects"]:
            for pipeline, ppc in project_config.pipelines.items():
                for name, variants in ppc.job_list.jobs.items():
                    project_jobs.append((rel, pipeline, name))
        print(f"zuul_check: {rel}: {len(parsed['jobs'])} jobs, {len(parsed['semaphores'])} "
              f"semaphores, {len(parsed['secrets'])} secrets, {len(parsed['projects'])} projects "
              "parsed by Zuul")
    for name, (conf, job) in jobs.items():
        if job.parent and job.parent != job.BASE_JOB_MARKER and job.parent not in jobs:
            problems.append(f"job {name}: parent {job.parent} is not defined")
        for sem in job.semaphores:
            if sem.name not in semaphores:
                problems.append(f"job {name}: semaphore {sem.name} is not defined")
        for use in job.secrets:
            if use.name not in secrets:
                problems.append(f"job {name}: secret {use.name} is not defined")
            elif job.source_context.project_canonical_name != PROJECT[0]:
                problems.append(f"job {name}: a secret is usable only in its own project")
    for rel, job, path, project in playbooks:
        if project is HERE and not os.path.isfile(os.path.join(root, path)):
            problems.append(f"{rel}: job {job}: playbook {path} does not exist")
    for rel, pipeline, name in project_jobs:
        if name not in jobs:
            problems.append(f"{rel}: project pipeline {pipeline}: job {name} is not defined")
    fail(problems)


def cmd_secret(clouds_yaml, out_dir):
    with open(clouds_yaml, encoding="utf-8") as f:
        plaintext = f.read()
    private_key, public_key = encryption.generate_rsa_keypair()
    # zuul-client encrypt: PKCS#1 OAEP (SHA-1) in chunks of key bytes - 2 * 20 - 2
    chunk = public_key.key_size // 8 - 42
    chunks = [
        encryption.encrypt_pkcs1_oaep(plaintext[i:i + chunk].encode("utf-8"), public_key)
        for i in range(0, len(plaintext), chunk)
    ]
    import base64

    lines = [
        "# Generated by ci/zuul/test/zuul_check.py secret: what zuul-client encrypt writes.",
        "- secret:",
        "    name: image-manager-test-cloud",
        "    data:",
        "      clouds_yaml: !encrypted/pkcs1-oaep",
    ]
    for c in chunks:
        b64 = base64.b64encode(c).decode("ascii")
        lines.append("        - " + b64)
    stanza = os.path.join(out_dir, "secret.yaml")
    with open(stanza, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")

    pcontext = parse_context()
    unparsed = load(PROJECT, out_dir, stanza)
    problems = []
    parsed = parse(pcontext, unparsed, problems, "secret.yaml")
    if problems or len(parsed["secrets"]) != 1:
        fail(problems or ["secret.yaml: no secret parsed"])
    secret = parsed["secrets"][0][1].decrypt(private_key)
    if secret.secret_data.get("clouds_yaml") != plaintext:
        fail(["the decrypted secret differs from the clouds.yaml that was encrypted"])
    out = os.path.join(out_dir, "secret-vars.json")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        # the variable name the job variant gives the secret (secrets: name:)
        json.dump({"image_manager_secret": secret.secret_data}, f)
    print(f"zuul_check: secret.yaml: clouds.yaml encrypted in {len(chunks)} chunks, parsed and "
          "decrypted by Zuul")


def zuul_merge():
    """Zuul's own merge of zuul_return calls (its action plugin, minus Ansible)."""
    fake = types.ModuleType("ansible.plugins.action")
    fake.ActionBase = object
    for name in ("ansible", "ansible.plugins"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["ansible.plugins.action"] = fake
    from zuul.ansible.base.action import zuul_return

    return zuul_return.merge_data


def cmd_returned(log, out):
    merge_data = zuul_merge()
    data = {}
    problems = []
    with open(log, encoding="utf-8") as f:
        for line in f:
            call = json.loads(line)
            if "data" not in call:
                problems.append(f"zuul_return called without data: {sorted(call)}")
                continue
            merge_data(call["data"], data)
    for name, check in [
        ("artifacts", result_schema.artifact_schema),
        ("warnings", result_schema.warning_schema),
    ]:
        try:
            check(data)
        except vs.Invalid as error:
            problems.append(f"returned data fails Zuul's {name} schema: {error}")
    comments = data.get("zuul", {}).get("file_comments")
    if comments is not None:
        try:
            filecomments.validate(comments)
        except vs.Invalid as error:
            problems.append(f"returned file_comments fail Zuul's schema: {error}")
    data.setdefault("zuul", {})["log_url"] = "https://logs.example.org/build/"
    data["_resolved_artifacts"] = result_data.get_artifacts_from_result_data(data)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    fail(problems)


def main(argv):
    if len(argv) >= 3 and argv[0] == "config":
        cmd_config(argv[1], argv[2:])
    elif len(argv) == 3 and argv[0] == "secret":
        cmd_secret(argv[1], argv[2])
    elif len(argv) == 3 and argv[0] == "returned":
        cmd_returned(argv[1], argv[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(64)


if __name__ == "__main__":
    main(sys.argv[1:])
