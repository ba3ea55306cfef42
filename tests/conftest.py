"""Shared fixtures."""

import jax
import pytest


@pytest.fixture
def x64():
    """JAX x64 mode on for one test, restored afterwards."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)
