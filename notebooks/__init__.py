"""The notebooks (jupytext percent scripts), shipped inside the wheel as ``riskstrat.notebooks`` so
that an installed riskstrat can run them (``riskstrat audit``). Nothing imports them: a notebook
runs cell by cell in its own kernel."""
