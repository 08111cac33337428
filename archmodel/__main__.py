"""``python -m archmodel`` runs the command-line interface."""
from archmodel.cli.main import main

if __name__ == "__main__":  # pragma: no cover
    main()
