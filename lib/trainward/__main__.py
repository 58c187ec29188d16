"""`python -m trainward ...` is the same as the `trainward` command."""

from trainward.cli import main

main()
