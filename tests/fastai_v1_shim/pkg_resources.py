"""The two pkg_resources calls fastai 1.0.61 makes at import (setuptools no longer ships pkg_resources): put
this folder on sys.path after fastai 1's, for the fastai 1 oracle tests only (nox -s oracle_v1)."""


def require(*requirements):  # fastai.imports.core: pkg_resources.require("fastprogress>=0.2.1")
    return []


def parse_version(version: str):
    from packaging.version import Version

    return Version(version)
