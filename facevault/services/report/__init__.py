"""services/report"""
