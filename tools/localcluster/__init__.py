"""The local single-node Kubernetes: the package behind cluster.py.

Standard library only: it runs as root with the system Python, before any
virtualenv exists. cluster.py is the entry point; each module here is one
concern of it (see README.md).
"""
