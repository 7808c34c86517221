"""Plots as inline SVG that come out the same bytes on every run: no date, no creator, fixed ids.

Reports, model cards and the audit draw with matplotlib's object API (a :func:`figure` each, no
pyplot state), and hand the figure to :func:`svg_of`.
"""

from __future__ import annotations

import io


def figure(**kwargs):
    """A new matplotlib ``Figure`` (``figsize`` and the like), not registered with pyplot."""
    # Imported here: matplotlib costs about half a second to import, and only reports and cards draw.
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def svg_of(fig, tight: bool = False) -> str:
    """``fig`` as an SVG string to put inside HTML (the XML prolog dropped).

    ``tight`` trims the figure to what is drawn; it lays the figure out twice, so plots drawn
    often (each monthly report) set their margins themselves instead.
    """
    import matplotlib  # already imported by figure(); see there

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "riskstrat", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None},
                    bbox_inches="tight" if tight else None)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]
