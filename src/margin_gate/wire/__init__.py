"""Binance's HTTP wire format: parameters and error bodies. Pure; shared by gateway and paper."""
