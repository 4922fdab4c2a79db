"""The variables Zuul's executor gives a job's playbooks, for ci/zuul/test.sh.

usage: zuul_vars.py OUT RUN_DIR PYTHON JOB PIPELINE [NAME=JSON...]

Writes OUT (JSON, for ansible-playbook -e @OUT): the `zuul` dict of a build of JOB in PIPELINE
for the change's project ops/image-catalog (catalog checkout at
<home>/src/example.org/ops/image-catalog) with image-manager as a required project
(<home>/src/example.org/example/image-manager), the node's home RUN_DIR/home as
ansible_user_dir, and each NAME=JSON as one more variable (job vars, zuul_output_dir, ...).
"""

import json
import sys
import uuid


def project(name, required):
    host = "example.org"
    return {
        "name": name,
        "short_name": name.split("/")[-1],
        "canonical_hostname": host,
        "canonical_name": f"{host}/{name}",
        "src_dir": f"src/{host}/{name}",
        "checkout": "main",
        "checkout_description": "zuul branch",
        "commit": "0" * 40,
        "required": required,
    }


def main(argv):
    if len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 64
    out, run, python, job, pipeline = argv[:5]
    catalog = project("ops/image-catalog", False)
    manager = project("example/image-manager", True)
    build = uuid.uuid4().hex
    variables = {
        "ansible_user_dir": f"{run}/home",
        "ansible_python_interpreter": python,
        "zuul": {
            "build": build,
            "buildset": uuid.uuid4().hex,
            "job": job,
            "pipeline": pipeline,
            "tenant": "example",
            "branch": "main",
            "override_checkout": None,
            "project": catalog,
            "projects": {p["canonical_name"]: p for p in (catalog, manager)},
            "executor": {
                "hostname": "ze01.example.org",
                "src_root": f"{run}/executor/src",
                "log_root": f"{run}/executor/logs",
                "work_root": f"{run}/executor/work",
                "result_data_file": f"{run}/executor/work/results.json",
                "inventory_file": f"{run}/executor/ansible/inventory.yaml",
            },
            "attempts": 1,
            "max_attempts": 3,
            "timeout": 3600,
            "post_timeout": 1800,
            "voting": True,
            "jobtags": [],
            "ansible_version": "11",
        },
    }
    for pair in argv[5:]:
        name, _, value = pair.partition("=")
        variables[name] = json.loads(value)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(variables, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
