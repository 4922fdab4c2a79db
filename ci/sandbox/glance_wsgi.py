"""gunicorn entry point for the sandbox Glance API (glance 33 has no standalone server).

Config comes from $OS_GLANCE_CONFIG_DIR/glance-api.conf (set by ci/sandbox.sh).
"""

import sqlite_immediate  # noqa: F401  (must come before glance's DB layer)

from glance.wsgi.api import application  # noqa: E402,F401
