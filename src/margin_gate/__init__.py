"""margin-gate: a pre-trade risk gateway for Binance Portfolio Margin accounts."""

__version__ = "0.1.0"
