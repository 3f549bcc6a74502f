"""``python -m mokg.apps.cli``: the `mokg` command line."""

from mokg.apps.cli.main import main

if __name__ == "__main__":
    main()
