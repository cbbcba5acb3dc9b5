"""spark-submit entry point: `spark-submit jobs/ingest.py --input DIR ...` (as
`flowmosaic ingest`)."""

import sys

from flowmosaic.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
