"""Report writers: report.json (versioned schema), Markdown summary, HTML audit report."""
