import jax.numpy as jnp
import numpy as np
import pytest

from kqjax.engine import driver
from kqjax.engine.keys import BLOCK


def sizes_step(first, sizes):
    """Counts every pulse once: the exact total must come back."""
    return {"pulses": jnp.sum(sizes), "blocks": jnp.sum(sizes > 0)}


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("total", [1, BLOCK - 1, BLOCK, 5 * BLOCK + 17, 2**40 + 7])
def test_exact_totals_beyond_32_bits(total, workers):
    """Totals are exact integers, also past 2**32 (no int32 overflow, no float32 accumulation),
    with one chunk in flight or several."""
    acc = driver.accumulate(sizes_step, total, 2**34 if total > 2**30 else 2**18, progress=False,
                            workers=workers)
    assert acc.complete and acc.pulses == total
    assert acc.counts["pulses"].dtype == np.int64 and int(acc.counts["pulses"]) == total
    assert int(acc.counts["blocks"]) == -(-total // BLOCK)


def test_step_shapes_do_not_depend_on_total():
    """Every call has the same fixed shape, so memory is set by the chunk, not the run."""
    shapes = set()

    def step(first, sizes):
        shapes.add(sizes.shape)
        return jnp.sum(sizes)

    for total in (10**6, 10**8, 3 * 10**8 + 5):
        driver.accumulate(step, total, 2**20, progress=False)
    assert shapes == {(2**20 // BLOCK,)}


@pytest.mark.parametrize("workers", [1, 3])
def test_interrupt_keeps_finished_chunks(workers):
    """Ctrl-C during the third chunk: the two chunks before it are kept, whatever is in flight."""

    def step(first, sizes):
        if int(first) == 2:
            raise KeyboardInterrupt
        return jnp.sum(sizes)

    acc = driver.accumulate(step, 10 * BLOCK, BLOCK, progress=False, workers=workers)
    assert not acc.complete and acc.pulses == 2 * BLOCK and int(acc.counts) == 2 * BLOCK
