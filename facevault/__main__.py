"""`python -m facevault` runs the command line."""

from facevault.entry import main

main()
