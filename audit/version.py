"""The package version, in a module of its own: every module that records it imports this leaf, not the
package, whose __init__ imports the API (and the API imports the pipeline that records the version)."""

__version__ = "0.1.0"
