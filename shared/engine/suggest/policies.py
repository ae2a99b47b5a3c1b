"""Action distributions of policies we can only observe through their logs.

OBP evaluates Bernoulli Thompson Sampling on the random log with an action distribution it simulates from BTS's
production Beta parameters (obp's BernoulliTS(is_zozotown_prior=True).compute_batch_action_dist). Those
parameters are not in our data and obp is not installable here, so the evaluation policy is recovered from what
BTS itself logged, using only its actions and propensities, never its clicks (the ground truth stays untouched):

- `empirical_action_dist`: pi(a | k) = n_bts(a, k) / n_bts(k), the share of BTS's impressions at slot k that showed
  item a. Each impression is a draw from BTS's policy at that moment, so this is an unbiased estimate of the
  policy's average over the logging period, which is exactly the mix the on-policy click rate averages over.
  Limitations: context-free (BTS is context-free too, but its parameters changed over the week), and the noise of
  ~3,300 draws per slot (rare items' shares are a handful of draws).
- `interpolated_action_dist`: the time-varying alternative. The bts log's propensity_score is BTS's probability of
  the logged (item, slot) at that moment; interpolating each pair's scores linearly in time and renormalising each
  slot to a distribution gives pi_t(a | k) at any time t, e.g. at each random-log impression (both logs cover the
  same week). Limitations: a pair is only observed when BTS chose it, which is likelier when its probability was
  high, so rare pairs' interpolated scores lean high before renormalisation, and between sightings the value is
  a straight line through a policy that moved in batch updates.
"""
from __future__ import annotations

import numpy as np

from shared.engine.suggest.bandit_data import BanditLog


def uniform_action_dist(n_actions: int, len_list: int) -> np.ndarray:
    """[n_actions, len_list]: the uniform random policy (OBD's random log: pscore 1/n_actions)."""
    return np.full((n_actions, len_list), 1.0 / n_actions)


def empirical_action_dist(log: BanditLog) -> np.ndarray:
    """[n_actions, len_list]: each slot's item shares in `log`."""
    counts = np.zeros((log.n_actions, log.len_list))
    np.add.at(counts, (log.item, log.position), 1.0)
    per_slot = counts.sum(axis=0, keepdims=True)
    if (per_slot == 0).any():
        raise ValueError("every slot needs at least one logged impression")
    return counts / per_slot


def interpolated_action_dist(log: BanditLog, at_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([len(at_times), n_actions, len_list] distribution, [len(at_times), len_list] raw mass before
    renormalising): each (item, slot)'s logged propensities interpolated in time (held flat beyond the first and
    last sighting; never-seen pairs get 0), each slot then rescaled to sum to one. The raw mass says how far the
    interpolation is from a distribution on its own (1 would be exact)."""
    at_times = np.asarray(at_times, dtype=np.float64)
    dist = np.zeros((len(at_times), log.n_actions, log.len_list))
    order = np.argsort(log.timestamp, kind="stable")
    t, item, pos, ps = log.timestamp[order], log.item[order], log.position[order], log.pscore[order]
    for a in range(log.n_actions):
        for k in range(log.len_list):
            seen = (item == a) & (pos == k)
            if seen.any():
                dist[:, a, k] = np.interp(at_times, t[seen], ps[seen])
    mass = dist.sum(axis=1)
    if (mass <= 0).any():
        raise ValueError("a slot with no logged propensity at all")
    return dist / mass[:, None, :], mass


def tile(dist: np.ndarray, n_rounds: int) -> np.ndarray:
    """A context-free [n_actions, len_list] distribution as the [n_rounds, n_actions, len_list] the estimators
    take (a read-only broadcast view, no copy)."""
    return np.broadcast_to(dist, (n_rounds, *dist.shape))
