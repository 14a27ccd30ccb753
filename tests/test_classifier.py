"""genjax.classifier: shapes, the loss against NumPy, confidence/accuracy, a short real training."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import classifier as clf
from genjax import data, train


@pytest.fixture(scope="module")
def model_and_params():
    model = clf.Classifier(hidden=(16,))
    return model, model.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28)))


def test_shapes(model_and_params):
    model, params = model_and_params
    images = jax.random.uniform(jax.random.PRNGKey(1), (6, 28, 28))
    assert model.apply(params, images).shape == (6, 10)
    probs = clf.predict_proba(model, params, images)
    assert probs.shape == (6, 10)
    np.testing.assert_allclose(probs.sum(axis=1), np.ones(6), rtol=1e-5)
    assert float(probs.min()) >= 0.0


def test_cross_entropy_matches_numpy():
    logits = np.random.default_rng(0).normal(size=(5, 10)) * 4
    labels = np.array([0, 3, 9, 3, 7])
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -log_probs[np.arange(5), labels].mean()
    got = clf.cross_entropy(jnp.asarray(logits, jnp.float32), jnp.asarray(labels))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_confidence_and_accuracy_hand_cases():
    probs = jnp.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.4, 0.6, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(clf.confidence(probs), (0.9 + 0.5 + 0.6 + 1 / 3) / 4, rtol=1e-6)
    labels = jnp.array([0, 2, 0, 0])
    np.testing.assert_allclose(clf.accuracy(probs, labels), 0.75)  # row 3 ties -> argmax 0
    np.testing.assert_allclose(clf.accuracy(jnp.log(probs + 1e-9), labels), 0.75)
    np.testing.assert_allclose(clf.confidence(jnp.full((2, 10), 0.1)), 0.1, rtol=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="probs must be"):
        clf.confidence(jnp.ones(3))
    with pytest.raises(ValueError, match="labels"):
        clf.accuracy(jnp.ones((3, 2)), jnp.ones((4,), jnp.int32))
    with pytest.raises(ValueError, match="labels"):
        clf.cross_entropy(jnp.ones((3, 2)), jnp.ones((3, 1), jnp.int32))


def test_one_train_step_changes_every_parameter(model_and_params):
    model, params = model_and_params
    optimizer = optax.adam(1e-2)
    state = train.create_train_state(params, optimizer, jax.random.PRNGKey(0))
    step = jax.jit(train.make_train_step(clf.classifier_loss(model), optimizer))
    batch = {
        "image": jax.random.uniform(jax.random.PRNGKey(1), (8, 28, 28)),
        "label": jnp.arange(8, dtype=jnp.int32),
    }
    new_state, metrics = step(state, batch)
    changed = jax.tree_util.tree_map(lambda a, b: bool(jnp.any(a != b)), params, new_state.params)
    assert all(jax.tree_util.tree_leaves(changed)), changed
    assert {"loss", "accuracy"} <= set(metrics)


def test_short_training_learns_mnist():
    train_set, test_set = data.load_mnist("train"), data.load_mnist("test")
    model = clf.Classifier(hidden=(64,))
    params = model.init(jax.random.PRNGKey(0), train_set.images[:1])
    optimizer = optax.adam(2e-3)
    state = train.create_train_state(params, optimizer, jax.random.PRNGKey(1))
    batch_fn = data.make_batch_fn(
        {"image": train_set.images, "label": train_set.labels}, 64, jax.random.PRNGKey(2)
    )
    step = train.make_train_step(clf.classifier_loss(model), optimizer)
    result = train.train(state, step, batch_fn, 200, log_every=100, progress=False)
    probs = clf.predict_proba(model, result.state.params, jnp.asarray(test_set.images))
    assert float(clf.accuracy(probs, jnp.asarray(test_set.labels))) > 0.85
    # A trained judge is far more confident on digits than on uniform noise.
    noise = jax.random.uniform(jax.random.PRNGKey(3), (200, 28, 28))
    noise_conf = clf.confidence(clf.predict_proba(model, result.state.params, noise))
    assert float(clf.confidence(probs)) > float(noise_conf)
