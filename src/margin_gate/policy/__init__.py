"""Policy: profiles and the ordered decision rules (issue 6). Pure: no I/O.

    profile.py   EffectiveProfile (stricter of account and bot), engine settings per process
    checks.py    Case + the ordered checks (Refusal | None, first wins)
    deny.py      every Refusal, built in one place (Binance code + margin-gate explanation)
    limits.py    notional and price-collar measurements on an intent's legs

The I/O side (state, audit, reservations, halts) is proxy/risk_gate.py. docs/policy.md.
"""
