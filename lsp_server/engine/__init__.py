"""The engine: context, index, prompts, post-processing, rewrite, cache, debounce. No LSP, no network."""
