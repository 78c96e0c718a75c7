"""The embedded local cloud: moto server plus what it lacks, and a Logz.io emulator, on loopback.

This is the only package that knows moto's internals.
"""
