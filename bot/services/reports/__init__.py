"""Progress reports: templates, cadences, drafts, submission, targets, progress."""
