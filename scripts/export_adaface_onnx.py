#!/usr/bin/env python
"""Kept for old instructions: the exporter is `facevault weights export-adaface` (facevault.weights.export_adaface)."""
import sys

from facevault.weights.export_adaface import main

sys.exit(main())
