"""The LSP layer: the only pygls importer. Transport, protocol, handlers, conversions; no domain logic."""
