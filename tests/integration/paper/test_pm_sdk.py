"""The paper exchange driven by Binance's official PM SDK (binance-sdk-derivatives-trading-
portfolio-margin), whose strict pydantic response models check every field's JSON type.
One client signs with HMAC, the other with an Ed25519 private key (base64 signatures)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from binance_common.configuration import ConfigurationRestAPI
from binance_common.errors import BadRequestError
from binance_sdk_derivatives_trading_portfolio_margin import DerivativesTradingPortfolioMargin
from binance_sdk_derivatives_trading_portfolio_margin.rest_api.models import NewCmOrderSideEnum
from binance_sdk_derivatives_trading_portfolio_margin.rest_api.models import NewCmOrderTypeEnum
from binance_sdk_derivatives_trading_portfolio_margin.rest_api.models import (
    NewMarginOrderSideEffectTypeEnum,
)
from binance_sdk_derivatives_trading_portfolio_margin.rest_api.models import NewMarginOrderSideEnum
from binance_sdk_derivatives_trading_portfolio_margin.rest_api.models import NewMarginOrderTypeEnum
from binance_sdk_derivatives_trading_portfolio_margin.rest_api.models import (
    NewUmOrderNewOrderRespTypeEnum,
)
from binance_sdk_derivatives_trading_portfolio_margin.rest_api.models import NewUmOrderSideEnum
from binance_sdk_derivatives_trading_portfolio_margin.rest_api.models import (
    NewUmOrderTimeInForceEnum,
)
from binance_sdk_derivatives_trading_portfolio_margin.rest_api.models import NewUmOrderTypeEnum
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from margin_gate.paper import create_app
from margin_gate.paper.schema import ApiKeySpec
from tests.integration.paper.conftest import KEY
from tests.integration.paper.conftest import SECRET
from tests.integration.paper.conftest import Control
from tests.integration.paper.conftest import integration_state
from tests.support.servers import serve_in_thread

ED_KEY = "paper-ed25519-key"
D = Decimal


@pytest.fixture(scope="module")
def ed25519_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def sdk_url(ed25519_pem: bytes) -> Iterator[str]:
    private = serialization.load_pem_private_key(ed25519_pem, password=None)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    base = integration_state()
    state = type(base)(
        **{
            **{f: getattr(base, f) for f in base.__dataclass_fields__},
            "keys": (*base.keys, ApiKeySpec("ed", ED_KEY, "ed25519", public)),
        }
    )
    with serve_in_thread(create_app(state, control_api=True)) as server:
        yield server.url


@pytest.fixture
def pm(sdk_url: str) -> Any:
    control = Control(sdk_url)
    control.post("/reset")
    control.close()
    config = ConfigurationRestAPI(api_key=KEY, api_secret=SECRET, base_path=sdk_url, timeout=5000)
    return DerivativesTradingPortfolioMargin(config_rest_api=config).rest_api


@pytest.fixture
def pm_ed25519(sdk_url: str, ed25519_pem: bytes) -> Any:
    config = ConfigurationRestAPI(
        api_key=ED_KEY, private_key=ed25519_pem, base_path=sdk_url, timeout=5000
    )
    return DerivativesTradingPortfolioMargin(config_rest_api=config).rest_api


def test_account_information_parses_into_the_sdk_model(pm: Any) -> None:
    info = pm.account_information().data()

    assert info.uni_mmr == "58.50000000"
    assert info.account_status == "NORMAL"
    assert D(info.account_equity) / D(info.account_maint_margin) == D("58.5")


def test_balance_positions_and_brackets_parse(pm: Any) -> None:
    balances = pm.account_balance().data()
    positions = pm.query_um_position_information(symbol="BTCUSDT").data()
    brackets = pm.um_notional_and_leverage_brackets(symbol="BTCUSDT").data()
    cm_brackets = pm.cm_notional_and_leverage_brackets(symbol="BTCUSD_PERP").data()

    assert balances is not None
    assert positions[0].position_amt == "2.000"
    assert brackets[0].brackets[0].maint_margin_ratio == 0.01
    assert cm_brackets[0].brackets[0].qty_cap == 100000


def test_um_market_order_then_position_and_uni_mmr(pm: Any) -> None:
    order = pm.new_um_order(
        symbol="BTCUSDT",
        side=NewUmOrderSideEnum.SELL,
        type=NewUmOrderTypeEnum.MARKET,
        quantity=0.5,
        new_order_resp_type=NewUmOrderNewOrderRespTypeEnum.RESULT,
    ).data()

    assert (order.status, order.executed_qty) == ("FILLED", "0.500")
    [pos] = pm.query_um_position_information(symbol="BTCUSDT").data()
    assert pos.position_amt == "1.500"
    info = pm.account_information().data()
    fee = D("0.5") * 50000 * D("0.0005")
    assert D(info.account_equity) == D(58500) - fee
    assert D(info.account_maint_margin) == D(750)


def test_limit_order_query_and_cancel(pm: Any) -> None:
    order = pm.new_um_order(
        symbol="BTCUSDT",
        side=NewUmOrderSideEnum.BUY,
        type=NewUmOrderTypeEnum.LIMIT,
        time_in_force=NewUmOrderTimeInForceEnum.GTC,
        quantity=0.1,
        price=45000.0,  # the SDK sends str(float): price=45000.0
    ).data()

    assert pm.query_um_order(symbol="BTCUSDT", order_id=order.order_id).data().status == "NEW"
    assert pm.cancel_um_order(symbol="BTCUSDT", order_id=order.order_id).data().status == (
        "CANCELED"
    )


def test_cm_and_margin_orders_and_loan(pm: Any) -> None:
    cm = pm.new_cm_order(
        symbol="BTCUSD_PERP",
        side=NewCmOrderSideEnum.BUY,
        type=NewCmOrderTypeEnum.MARKET,
        quantity=3,
    ).data()
    margin = pm.new_margin_order(
        symbol="BTCUSDT",
        side=NewMarginOrderSideEnum.BUY,
        type=NewMarginOrderTypeEnum.MARKET,
        quantity=0.05,
        side_effect_type=NewMarginOrderSideEffectTypeEnum.MARGIN_BUY,
    ).data()
    loan = pm.margin_account_borrow(asset="ETH", amount=1.0).data()

    assert cm.order_id > 0
    assert (margin.status, margin.margin_buy_borrow_amount) == ("FILLED", "1500.00000000")
    assert loan.tran_id > 0
    [cm_pos] = pm.query_cm_position_information().data()
    assert cm_pos.position_amt == "3"


def test_listen_key_through_the_sdk(pm: Any) -> None:
    key = pm.start_user_data_stream().data().listen_key

    assert len(key) == 64
    pm.keepalive_user_data_stream()
    pm.close_user_data_stream()


def test_ed25519_signed_requests_are_accepted(pm_ed25519: Any) -> None:
    info = pm_ed25519.account_information().data()
    order = pm_ed25519.new_um_order(
        symbol="ETHUSDT", side=NewUmOrderSideEnum.BUY, type=NewUmOrderTypeEnum.MARKET, quantity=1
    ).data()

    assert info.account_status == "NORMAL"
    assert order.symbol == "ETHUSDT"


def test_sdk_sees_binance_errors(pm: Any) -> None:
    with pytest.raises(BadRequestError, match="insufficient balance"):
        pm.new_margin_order(
            symbol="ETHUSDT",
            side=NewMarginOrderSideEnum.SELL,
            type=NewMarginOrderTypeEnum.MARKET,
            quantity=5.0,
        )
