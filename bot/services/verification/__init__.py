"""Public identity checks of enumerators, and impostor reports."""
