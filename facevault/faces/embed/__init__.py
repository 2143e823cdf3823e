"""faces/embed"""
