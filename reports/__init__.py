"""Reporting: tables and output files (``reports.tables``), figures (``reports.plots``), the self-contained
``report.html`` (``reports.html_report``) and each strategy's signal card (``reports.cards``).

Built on ``engines`` and ``research``; knows nothing of the command line.
"""
