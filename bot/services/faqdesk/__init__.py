"""The FAQ around the search: the question log, its queue, clusters and the help desk."""
