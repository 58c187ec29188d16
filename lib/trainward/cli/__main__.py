"""`python -m trainward ...` is the same as the `trainward` command."""

from . import main

main()
