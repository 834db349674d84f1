"""extractor: structured, grounded data from scientific paper abstracts."""

__version__ = "0.1.0"
