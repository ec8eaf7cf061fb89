"""The entry point PyInstaller freezes: /usr/bin/pstore-archiver in the Flatcar sysext."""

import sys

from pstore_archiver.cli import main

sys.exit(main())
