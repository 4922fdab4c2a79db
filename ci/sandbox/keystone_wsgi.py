"""gunicorn entry point for the sandbox Keystone API.

Keystone parses sys.argv while it initialises and rejects gunicorn's own flags
(the worker exits 2 and the master keeps accepting connections), so argv is
reduced to the program name while keystone.wsgi.api is imported.
Config comes from $OS_KEYSTONE_CONFIG_DIR/keystone.conf (set by ci/sandbox.sh).
"""

import sys

import sqlite_immediate  # noqa: F401

_saved_argv = sys.argv
sys.argv = sys.argv[:1]
try:
    from keystone.wsgi.api import application  # noqa: F401
finally:
    sys.argv = _saved_argv
