"""``python -m lsp_server``: the same entry point as the ``llm-lsp`` console script."""

from lsp_server.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
