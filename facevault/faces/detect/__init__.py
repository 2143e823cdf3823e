"""faces/detect"""
