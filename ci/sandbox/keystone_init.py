"""keystone-manage db_sync + bootstrap in ONE Python process.

Importing keystone's CLI costs several CPU seconds; the two commands together
would pay it twice. Same effect as:
  keystone-manage --config-file CONF db_sync
  keystone-manage --config-file CONF bootstrap --bootstrap-password $OS_BOOTSTRAP_PASSWORD ...
Both steps are idempotent. usage: keystone_init.py CONF KEYSTONE_URL REGION
(the admin password comes from $OS_BOOTSTRAP_PASSWORD, never from argv).
"""

import sys

from keystone.cmd import cli
from keystone.conf import CONF


def main():
    conf, url, region = sys.argv[1:4]
    base = ["keystone-manage", "--config-file", conf]
    cli.main(argv=base + ["db_sync"])
    # oslo.config refuses to parse twice; clear() allows the second command line.
    CONF.clear()
    cli.main(argv=base + [
        "bootstrap",
        "--bootstrap-username", "admin",
        "--bootstrap-project-name", "admin",
        "--bootstrap-role-name", "admin",
        "--bootstrap-service-name", "keystone",
        "--bootstrap-region-id", region,
        "--bootstrap-admin-url", url + "/v3",
        "--bootstrap-internal-url", url + "/v3",
        "--bootstrap-public-url", url + "/v3",
    ])


if __name__ == "__main__":
    main()
