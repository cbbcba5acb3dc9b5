"""spark-submit entry point: `spark-submit jobs/export.py --universe U --out DIR` (as
`flowmosaic export`)."""

import sys

from flowmosaic.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
