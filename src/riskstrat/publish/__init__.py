"""Publishing: a scored month written to ``outputs/YYYY-MM/``, whole or not at all.

- :mod:`~riskstrat.publish.outputs`: scores.parquet, explanations.parquet and run.json, published atomically;
- :mod:`~riskstrat.publish.worklist_files`: the worklists' CSV files and worklist.xlsx, safe to open in Excel;
- :mod:`~riskstrat.publish.report`: report.html (``templates/report.html``);
- :mod:`~riskstrat.publish.month`: ``riskstrat score``, scoring then publishing a month.
"""
