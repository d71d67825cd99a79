"""Numbered situation bulletins: series, facts, documents and charts."""
