"""Registry entries, one module per source. Data only: importing these loads no framework."""
