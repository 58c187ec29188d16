"""`python -m trainward ...` is the same as the `trainward` command."""

from .cli import main

main()
