"""faces/align"""
