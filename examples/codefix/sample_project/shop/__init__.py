"""A small shop, with the kind of lint a real codebase collects."""
