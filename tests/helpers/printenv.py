"""Print `flag=<value of the variable named on the command line>` (an environment probe)."""

import os
import sys

print(f"flag={os.environ.get(sys.argv[1], '<unset>')}", flush=True)
