"""(family module: to be filled)"""
