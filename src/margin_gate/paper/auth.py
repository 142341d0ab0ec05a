"""Who may call the paper exchange: API keys from the state file, signatures and timing.

Binance's order of checks (binance-pm.md §3.1-§3.3): API key header present (-2014) and known
(-2015, HTTP 401); then `timestamp`/`recvWindow` (-1102/-1021); then the signature (-1102 when
absent, -1022 when wrong). HMAC hex compares case-insensitively; Ed25519/RSA are base64.
"""

from __future__ import annotations

from collections.abc import Iterable

from margin_gate.auth.signing import Verifier
from margin_gate.auth.signing import check_timing
from margin_gate.auth.signing import load_verifier
from margin_gate.paper.schema import ApiKeySpec
from margin_gate.wire.errors import BAD_API_KEY_FMT
from margin_gate.wire.errors import INVALID_SIGNATURE
from margin_gate.wire.errors import MANDATORY_PARAM
from margin_gate.wire.errors import REJECTED_MBX_KEY
from margin_gate.wire.errors import BinanceError
from margin_gate.wire.params import Params

__all__ = ["Keyring"]

_NO_SIGNATURE = MANDATORY_PARAM.with_msg(
    "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
)


class Keyring:
    def __init__(self, keys: Iterable[ApiKeySpec]) -> None:
        self._verifiers: dict[str, Verifier] = {
            k.api_key: load_verifier(k.key_type, k.material) for k in keys
        }

    def check_key(self, api_key: str | None) -> BinanceError | None:
        if not api_key:
            return BAD_API_KEY_FMT
        if api_key not in self._verifiers:
            return REJECTED_MBX_KEY
        return None

    def check_signed(self, api_key: str | None, params: Params, now_ms: int) -> BinanceError | None:
        problem = self.check_key(api_key)
        if problem is not None:
            return problem
        assert api_key is not None
        timing = check_timing(params.get("timestamp"), params.get("recvWindow"), now_ms)
        if timing is not None:
            return timing
        if not params.signature:
            return _NO_SIGNATURE
        if not self._verifiers[api_key].verify(params.signed_payload, params.signature):
            return INVALID_SIGNATURE
        return None
