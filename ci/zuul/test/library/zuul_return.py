#!/usr/bin/python
# Test-only stand-in for Zuul's zuul_return (an action plugin of the Zuul executor, which a
# plain ansible-playbook does not have). It appends each call's arguments as one JSON line to
# the file named by ZUUL_RETURN_LOG; ci/zuul/test/zuul_check.py merges them the way Zuul
# does and checks them with Zuul's own schemas. Only on ANSIBLE_LIBRARY of ci/zuul/test.sh.
import json
import os

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec={
            "data": {"type": "dict"},
            "secret_data": {"type": "dict", "no_log": True},
            "file": {"type": "str"},
            "secret_file": {"type": "str"},
            "path": {"type": "str"},
        },
        supports_check_mode=True,
    )
    log = os.environ.get("ZUUL_RETURN_LOG")
    if not log:
        module.fail_json(msg="ZUUL_RETURN_LOG is not set (the test's zuul_return stand-in)")
    call = {key: module.params[key] for key in ("data", "file") if module.params[key] is not None}
    with open(log, "a", encoding="utf-8") as out:
        out.write(json.dumps(call, sort_keys=True) + "\n")
    module.exit_json(changed=False)


if __name__ == "__main__":
    main()
