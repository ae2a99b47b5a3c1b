"""The two-tower retrieval model: the torch model and its training (model.py), the ONNX export of the user tower
(export.py), and the torch-free inputs both sides share (features.py). Serving goes through
shared.engine.rankers.two_tower.TwoTowerRanker, which imports torch only when it trains.

Nothing is imported here, so that `import shared.engine.towers.features` never pulls torch in.
"""
