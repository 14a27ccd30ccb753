"""An unrolled GAN with your own generator and discriminator, for any k.

    python docs/cookbook/unrolled_gan.py [K]

G and D here are plain functions of a parameter pytree (any JAX function
works: flax, equinox or hand-written). `genjax.gan.unrolled_generator_loss`
scores G against D after K simulated optimizer updates of D, and `jax.grad`
differentiates through all K of them; the real D is then updated once, as
usual. K = 0 is the ordinary GAN.
"""

import sys

import jax
import jax.numpy as jnp
import optax

from genjax import data, gan, train

K = int(sys.argv[1]) if len(sys.argv) > 1 else 5
NUM_STEPS, BATCH, NOISE_DIM = 600, 128, 16


def init_mlp(key, sizes):
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        {"w": jax.random.normal(k, (m, n)) / jnp.sqrt(m), "b": jnp.zeros(n)}
        for k, m, n in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def mlp(params, x):
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def generate(gen_params, noise):  # noise [B, z] -> samples [B, 2]
    return mlp(gen_params, noise)


def discriminate(disc_params, x):  # samples [B, 2] -> logits [B]
    return mlp(disc_params, x)[:, 0]


gen_opt = optax.adam(1e-3, b1=0.5)
# eps_root > 0: Adam's square root stays differentiable where a gradient entry is 0.
disc_opt = optax.adam(1e-3, b1=0.5, eps_root=1e-8)
k_g, k_d, k_state, k_data = jax.random.split(jax.random.PRNGKey(0), 4)
state = gan.init_gan_state(
    init_mlp(k_g, [NOISE_DIM, 64, 64, 2]),
    init_mlp(k_d, [2, 64, 64, 1]),
    gen_opt,
    disc_opt,
    k_state,
)


def train_step(state, real):  # real: [K + 1, B, 2], batch 0 for D, 1..K for the unroll
    g, d = state.params["gen"], state.params["disc"]
    g_opt, d_opt = state.opt_state["gen"], state.opt_state["disc"]
    keys = jax.random.split(jax.random.fold_in(state.key, state.step), 3)
    noise = jax.random.normal(keys[0], (BATCH, NOISE_DIM))
    unroll_noise = jax.random.normal(keys[1], (K, BATCH, NOISE_DIM))

    # G's step first, against the D it will face after K more updates.
    gen_loss, grads = jax.value_and_grad(gan.unrolled_generator_loss)(
        g, d, d_opt, real[1:], unroll_noise, noise,
        generate=generate, discriminate=discriminate, disc_optimizer=disc_opt,
        generator_loss=gan.nonsaturating_generator_loss,
    )  # fmt: skip
    updates, g_opt = gen_opt.update(grads, g_opt, g)
    g = optax.apply_updates(g, updates)

    # Then one real update of D (the same function the unroll simulates).
    d_noise = jax.random.normal(keys[2], (BATCH, NOISE_DIM))
    d, d_opt, disc_loss = gan.discriminator_step(
        d, d_opt, g, real[0], d_noise,
        generate=generate, discriminate=discriminate, disc_optimizer=disc_opt,
    )  # fmt: skip
    new_state = train.TrainState(
        state.step + 1, {"gen": g, "disc": d}, {"gen": g_opt, "disc": d_opt}, state.key
    )
    return new_state, {"loss": gen_loss, "disc_loss": disc_loss}


def batch_fn(step):  # the data at step s is a function of s
    key = jax.random.fold_in(k_data, step)
    return data.ring_of_gaussians(key, (K + 1) * BATCH).reshape(K + 1, BATCH, 2)


result = train.train(state, train_step, batch_fn, NUM_STEPS, log_every=200, progress=False)

samples = generate(result.state.params["gen"], jax.random.normal(k_data, (2500, NOISE_DIM)))
stats = gan.mode_statistics(samples, data.ring_modes(), std=0.01)  # PacGAN's statistics
print(f"k = {K}: {int(stats['modes'])}/8 ring modes captured, "
      f"{100 * float(stats['hq']):.0f}% of samples within 3 std of a mode, "
      f"reverse KL {float(stats['reverse_kl']):.2f}")  # fmt: skip
assert jnp.all(jnp.isfinite(samples))
assert float(stats["modes"]) >= 1
