"""`python -m facevault` runs the command line."""

from facevault.cli import main

main()
