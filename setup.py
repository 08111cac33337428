"""Package discovery for archmodel's layout.

Only one import namespace is installed, ``archmodel``. The top-level folders ``backends/``,
``cli/`` and ``specs/`` live beside ``archmodel/`` in the repository (so the architecture is
visible from the top folder) and are installed as ``archmodel.backends``, ``archmodel.cli`` and
``archmodel.specs``. All metadata lives in pyproject.toml.
"""
from setuptools import find_packages, setup

MAPPED = {"archmodel": "archmodel", "archmodel.backends": "backends",
          "archmodel.cli": "cli", "archmodel.specs": "specs"}

packages, package_dir = [], {}
for name, folder in MAPPED.items():
    package_dir[name] = folder
    packages.append(name)
    for sub in find_packages(folder):
        packages.append(f"{name}.{sub}")
        package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
