"""Routing between small and large tiers, one package for the concept:

- :mod:`~slmgraph.routing.edges`: edge routers (``field``, ``rules``, ``classifier``);
- :mod:`~slmgraph.routing.cascade`: conditional activation (escalate below a confidence);
- :mod:`~slmgraph.routing.parallel`: parallel verification (draft and verifier at once);
- :mod:`~slmgraph.routing.classifier`: the classifier router's model, trained on outcomes;
- :mod:`~slmgraph.routing.calibrate`: thresholds chosen for a stated quality/cost target.
"""
