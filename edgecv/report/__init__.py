"""The report: report.json is canonical (schema: ``edgecv schema report``); markdown and HTML render from it."""
