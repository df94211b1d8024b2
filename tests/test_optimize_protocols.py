"""mode=optimize on protocols other than decoy BB84: the optax optimum of the asymptotic key rate
against a dense grid of the same objective (the engine's optimiser knows no protocol)."""
import jax
import numpy as np
import pytest

import kqjax
from kqjax.api import prepare
from kqjax.config.compose import compose
from kqjax.tasks.qkd_link import link_of

CASES = {
    # BBM92 at 100 km: the rate rises with the pair number, then multi-pair errors win
    "bbm92_mean_pairs": (["experiment=entanglement_100km", "distance_km=[100]", "source.mean_pairs=0.01"],
                         "source.mean_pairs", np.geomspace(0.01, 1.0, 2001)),
    # SNS TF-QKD at 300 km: the sending probability trades Z-window bit errors against key
    "sns_tf_epsilon": (["experiment=tf_qkd", "distance_km=[300]", "source.epsilon=0.2"],
                       "source.epsilon", np.linspace(0.005, 0.3, 2001)),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_optimum_matches_dense_grid(case):
    overrides, path, grid = case
    ds = kqjax.run([*overrides, "mode=optimize", f"optimize.params=[{path}]", "optimize.steps=300"])
    field = path.split(".")[1]
    found, best = float(ds[f"{field}_opt"][0]), float(ds["objective_opt"][0])
    _, built = prepare(compose(overrides))
    link = jax.tree_util.tree_map(lambda x: x[0], link_of(built.components))
    group = path.split(".")[0]

    def rate(v):
        import dataclasses
        lk = dataclasses.replace(link, parts={**link.parts, group: dataclasses.replace(link.parts[group], **{field: v})})
        return lk.expected()["key_rate_asymptotic"]

    rates = np.asarray(jax.jit(jax.vmap(rate))(grid))
    i = int(np.argmax(rates))
    assert 0 < i < grid.size - 1  # an interior optimum
    assert best >= rates[i] * (1 - 1e-4), (best, rates[i])  # as good as the grid, to 1e-4
    assert abs(found - grid[i]) <= 0.05 * grid[i], (found, grid[i])
