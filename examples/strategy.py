"""The demo's strategy service, runnable on its own: the file to copy when you write your own.

The service itself lives in ``tradebridge/demo/strategy.py`` (so ``tradebridge demo`` can start it from an
installed package); it uses only tradebridge's public API: ``RustFeatureComputer`` and ``MarketBar`` for
features, ``ZMQSubscriber``/``ZMQPublisher`` for the bus, ``Signal``/``OrderUpdate`` contracts,
``AlpacaPaperTrading`` for the portfolio and ``HealthCheck``/``start_health_server`` for health.

Run it against services you started yourself, e.g.::

    tradebridge mock-broker --port 8090 --market-endpoint tcp://127.0.0.1:5555 &
    target/release/execution-engine --market-endpoint tcp://127.0.0.1:5555 --health-port 8081 &
    ALPACA_API_KEY=any ALPACA_SECRET_KEY=any python examples/strategy.py \\
        --broker-url http://127.0.0.1:8090 --health-port 8082 &
    tradebridge mock-publisher --endpoint tcp://127.0.0.1:5555 --count 900 --wait-for-subscribers 3

To change the model, replace ``momentum_score`` (features in, a score in [-1, 1] out) and keep the rest.
"""

from __future__ import annotations

from tradebridge.demo.strategy import main

if __name__ == "__main__":
    raise SystemExit(main())
