"""services/ingest"""
