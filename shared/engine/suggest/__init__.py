"""Contextual suggestions, offline core: logged bandit data, one feature definition, click rankers and
off-policy estimates of a new policy's click rate from logs of an old one.

The Open Bandit Dataset (ZOZOTOWN, Saito et al. 2021) is the real-data yardstick: it is the only public log with a
known logging propensity for every impression *and* an on-policy log of a second policy, so an off-policy estimate
can be checked against what that policy really got.
"""
