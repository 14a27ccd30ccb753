"""The VAE training step in JAX against the same model in PyTorch, and the cost of evaluation.

    python -m benchmarks.vae_step [--repeats 7] [--steps 50] [--is-images 1000]

The model: a 784-500-20 MLP encoder (ReLU,
mean and soft-clipped log-variance heads), a 20-500-784 decoder with Bernoulli
logits, batch 128, Adam, float32, CPU. The JAX side is `genjax.vae.models` with
`genjax.train.make_train_step`, jitted once with the state donated; the PyTorch
side (optional: `pip install genjax[bench]`, torch==2.13.0) is the same network
and loss written by hand. Runs alternate (JAX, torch, JAX, torch, ...) after a
warm-up and the medians and their ratio are printed: quote the ratio, not the
milliseconds, on a shared machine.

Also printed: the FLOPs of one step (matrix products only: forward, weight
gradients and the input gradients of every layer but the first), the GFLOP/s
the JAX step reaches and its fraction of this machine's float32 matmul peak
(measured here as a 2048^3 product in JAX), and the wall time of the
importance-sampled test log-likelihood (k = 5,000 samples per image, Burda et
al. 2016) over `--is-images` test images with the same architecture.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genjax import data
from genjax import train as T
from genjax.vae import models, objectives

BATCH, D, HIDDEN, LATENT = 128, 784, 500, 20
LAYERS = ((D, HIDDEN), (HIDDEN, 2 * LATENT), (LATENT, HIDDEN), (HIDDEN, D))


def step_flops(batch: int = BATCH) -> int:
    """Matmul FLOPs of one training step: forward + weight grads + input grads (not layer 1's)."""
    forward = sum(2 * batch * i * o for i, o in LAYERS)
    first = 2 * batch * LAYERS[0][0] * LAYERS[0][1]
    return 3 * forward - first


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak_gflops(n: int = 2048, repeats: int = 7) -> float:
    """GFLOP/s of a float32 n^3 matrix product in JAX (the machine's practical peak)."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
    mm = jax.jit(jnp.matmul)
    mm(a, b).block_until_ready()
    return 2 * n**3 / _median_time(lambda: mm(a, b).block_until_ready(), repeats) / 1e9


def make_jax(batch_np: np.ndarray):
    """A closure running `n` jitted VAE steps on a fixed binary batch [128, 784]."""
    model = models.make_vae(
        "bernoulli", data_dim=D, latent_dim=LATENT, encoder_hidden=(HIDDEN,),
        decoder_hidden=(HIDDEN,),
    )  # fmt: skip
    optimizer = optax.adam(1e-3)
    step = jax.jit(T.make_train_step(models.make_elbo_loss(model), optimizer), donate_argnums=(0,))
    state = T.create_train_state(
        models.init_params(jax.random.PRNGKey(0), model), optimizer, jax.random.PRNGKey(1)
    )
    batch = {"image": jnp.asarray(batch_np)}
    holder = [state]

    def run(n: int) -> None:
        s = holder[0]
        for _ in range(n):
            s, metrics = step(s, batch)
        jax.block_until_ready(metrics["loss"])
        holder[0] = s

    return run, model


def make_torch(batch_np: np.ndarray):
    """The same model and loss in PyTorch, or None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    lo, hi = models.ENCODER_LOGVAR_RANGE
    mid, half = (lo + hi) / 2, (hi - lo) / 2

    class VAE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = torch.nn.Sequential(
                torch.nn.Linear(D, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 2 * LATENT)
            )
            self.dec = torch.nn.Sequential(
                torch.nn.Linear(LATENT, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, D)
            )

        def forward(self, x):
            mean, raw = self.enc(x).chunk(2, dim=-1)
            logvar = mid + half * torch.tanh((raw - mid) / half)
            z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
            logits = self.dec(z)
            recon = -torch.nn.functional.binary_cross_entropy_with_logits(
                logits, x, reduction="none"
            ).sum(-1)
            kl = 0.5 * (torch.expm1(logvar) - logvar + mean.square()).sum(-1)
            return -(recon - kl).mean()

    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.from_numpy(batch_np)

    def run(n: int) -> None:
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            loss = model(x)
            loss.backward()
            opt.step()
        float(loss.detach())

    return run


def time_importance_sampling(model, num_images: int, num_samples: int = 5000) -> float:
    """Seconds for the k-sample IS estimate of log p(x) on `num_images` test images (compiled)."""
    params = models.init_params(jax.random.PRNGKey(0), model)
    x = data.binarize(jnp.asarray(data.load_mnist("test").flat()[:num_images]))
    chunk = min(100, num_images)

    @jax.jit
    def one(params, x, key):
        encode_fn, log_likelihood_fn = models.model_fns(model, params)
        return objectives.log_px_importance(
            key, x, encode_fn, log_likelihood_fn, num_samples, chunk_size=100
        )

    one(params, x[:chunk], jax.random.PRNGKey(0)).block_until_ready()  # compile
    start = time.perf_counter()
    for i in range(0, num_images, chunk):
        one(params, x[i : i + chunk], jax.random.PRNGKey(i)).block_until_ready()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=50, help="steps per timed run")
    parser.add_argument("--is-images", type=int, default=1000, help="0 skips the IS timing")
    args = parser.parse_args()

    mnist = data.load_mnist("train").flat()[:BATCH]
    batch_np = np.asarray(mnist > 0.5, np.float32)
    jax_run, model = make_jax(batch_np)
    torch_run = make_torch(batch_np)
    jax_run(5)  # compile and warm up
    if torch_run is not None:
        torch_run(5)
    jax_times, torch_times = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        jax_run(args.steps)
        jax_times.append((time.perf_counter() - start) / args.steps)
        if torch_run is not None:
            start = time.perf_counter()
            torch_run(args.steps)
            torch_times.append((time.perf_counter() - start) / args.steps)
    jax_ms = 1e3 * statistics.median(jax_times)
    flops = step_flops()
    peak = matmul_peak_gflops()
    achieved = flops / (jax_ms / 1e3) / 1e9
    print(f"devices: {jax.devices()}")
    print(f"JAX step (median of {args.repeats} x {args.steps}): {jax_ms:.2f} ms")
    if torch_run is not None:
        import torch

        torch_ms = 1e3 * statistics.median(torch_times)
        print(f"PyTorch {torch.__version__} step ({torch.get_num_threads()} threads): "
              f"{torch_ms:.2f} ms")  # fmt: skip
        print(f"speed-up JAX over PyTorch: {torch_ms / jax_ms:.2f}x (target >= 1.5x)")
    else:
        print("PyTorch not installed (pip install genjax[bench]): no comparison")
    print(f"FLOPs per step: {flops / 1e9:.3f} GFLOP; JAX step reaches {achieved:.1f} GFLOP/s")
    print(f"float32 2048^3 matmul peak: {peak:.1f} GFLOP/s; fraction of peak: "
          f"{achieved / peak:.1%} (target >= 50%)")  # fmt: skip
    if args.is_images:
        seconds = time_importance_sampling(model, args.is_images)
        tflop = args.is_images * 5000 * 2 * (LATENT * HIDDEN + HIDDEN * D) / 1e12
        print(f"IS log p(x), k=5,000, {args.is_images} test images: {seconds:.1f} s "
              f"(~{tflop:.2f} TFLOP of decoder products; target < 60 s for 1,000)")  # fmt: skip


if __name__ == "__main__":
    main()
