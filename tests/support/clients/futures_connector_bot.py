"""Drive binance-futures-connector (unmodified) against a base URL; run in its side venv.

Usage: python futures_connector_bot.py BASE_URL KEY SECRET
Places, queries and cancels a UM order on /fapi/v1/order, and one on /papi/v1/um/order through
the generic signer (the library has no papi methods, clients.md), then prints one JSON object.
Kept free of margin_gate and tests imports: this interpreter has neither.
"""

import json
import sys

from binance.error import ClientError
from binance.um_futures import UMFutures


def main() -> int:
    base_url, key, secret = sys.argv[1:4]
    um = UMFutures(key=key, secret=secret, base_url=base_url, timeout=5)
    placed = um.new_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity=0.00001, price=30000
    )
    queried = um.query_order(symbol="BTCUSDT", orderId=placed["orderId"])
    cancelled = um.cancel_order(symbol="BTCUSDT", orderId=placed["orderId"])
    papi = um.sign_request(
        "POST",
        "/papi/v1/um/order",
        {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": 0.002},
    )
    bad = UMFutures(key=key, secret="not-the-secret", base_url=base_url, timeout=5)
    try:
        bad.new_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity=1)
        refused = None
    except ClientError as exc:
        refused = [exc.status_code, exc.error_code]
    print(
        json.dumps(
            {
                "placed": placed,
                "queried": queried,
                "cancelled": cancelled,
                "papi": papi,
                "refused": refused,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
