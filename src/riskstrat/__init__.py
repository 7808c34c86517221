"""riskstrat: predictive risk stratification for Medicaid children."""
__version__ = "0.1.0"
