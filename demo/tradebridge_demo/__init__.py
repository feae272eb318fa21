"""tradebridge-demo: ``tradebridge demo``, the guide's complete trading flow run locally.

The command is :mod:`tradebridge_demo.cli`; :mod:`tradebridge_demo.run` starts and follows the processes,
:mod:`tradebridge_demo.observer` watches the bus, :mod:`tradebridge_demo.report` turns what was seen into
the summary, the checks and the charts. ``strategy.py`` is ``examples/strategy.py``, shipped so that an
installed demo can start it.
"""
