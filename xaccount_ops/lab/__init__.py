"""The notebook face: what the notebooks and ``make demo`` / ``make lab`` use on top of the library.

- :mod:`context`: :func:`open_fleet`, the fleet a notebook works on (config, overrides, local cloud).
- :mod:`widgets`: the forms (deploy, subscriptions, accounts, audit, verify).
- :mod:`plots`: the charts.  :mod:`report`: notebooks to HTML.
- :mod:`demo`: ``python -m xaccount_ops.lab.demo`` (``make demo``, ``make lab``).

Nothing in the library imports this package.
"""
