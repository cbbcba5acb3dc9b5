"""spark-submit entry point: `spark-submit jobs/country_flows.py --universe FloPctCtry-B ...`.

Same arguments as `flowmosaic country-flows`; the submitted session is used as it is.
"""

import sys

from flowmosaic.cli import main

if __name__ == "__main__":
    sys.exit(main(["country-flows", *sys.argv[1:]]))
