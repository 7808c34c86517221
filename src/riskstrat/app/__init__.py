"""The web worklist (``riskstrat app``): the outreach team's lists, member pages and outreach log in
a browser, for the latest published month. :func:`riskstrat.app.server.create_app` builds it,
:func:`riskstrat.app.server.serve` runs it; docs/app.md describes roles and the security model."""
