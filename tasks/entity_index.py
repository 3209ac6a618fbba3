"""The entity index's former command line, kept working: ``python -m tasks.entity_index`` is
``python -m tasks.entities.index`` (documented under that name)."""

import sys

from tasks.entities.index import main

if __name__ == "__main__":
    sys.exit(main())
