"""`python -m facevault` runs the command line."""

from .cli import main

main()
