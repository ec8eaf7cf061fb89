import sys

from pstore_archiver.cli import main

sys.exit(main())
