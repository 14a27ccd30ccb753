"""The VAE training step in JAX against the same model in PyTorch, and the cost of evaluation.

    python -m benchmarks.vae_step [--repeats 7] [--steps 50] [--is-images 1000]
        [--json PATH] [--quick] [--torch-threads N]

The model: a 784-500-20 MLP encoder (ReLU,
mean and soft-clipped log-variance heads), a 20-500-784 decoder with Bernoulli
logits, batch 128, Adam, float32, CPU. The JAX side is `genjax.vae.models` with
`genjax.train.make_train_step`, jitted once with the state donated; the PyTorch
side (optional: `pip install genjax[bench]`, torch==2.13.0) is the same network
and loss written by hand. After a warm-up, runs alternate (JAX, torch, matmul,
JAX, torch, matmul, ...) and the medians and their ratio are printed: quote the
ratio, not the milliseconds, on a shared machine.

Also printed: the FLOPs of one step (matrix products only: forward, weight
gradients and the input gradients of every layer but the first), the GFLOP/s
the JAX step reaches and its fraction of this machine's float32 matmul peak
(a 2048^3 product in JAX, timed in the same interleaved rounds), and the wall
time of the importance-sampled test log-likelihood (k = 5,000 samples per
image, Burda et al. 2016) over `--is-images` test images with the same
architecture.

`--json PATH` writes the figures `jax_over_torch` (torch step time / JAX step
time: above 1, JAX is faster) and `fraction_of_peak`, the medians and the
environment (`benchmarks.common`). `--quick`: hidden 32, latent 4, batch 16, a
256^3 product, 3 x 5 steps, 20 images x 50 samples.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import common
from genjax import data
from genjax import train as T
from genjax.vae import models, objectives

D = 784


@dataclasses.dataclass(frozen=True)
class Sizes:
    batch: int = 128
    hidden: int = 500
    latent: int = 20
    peak_n: int = 2048  # the side of the matmul that measures the peak
    is_samples: int = 5000

    def layers(self) -> tuple[tuple[int, int], ...]:
        h, z = self.hidden, self.latent
        return ((D, h), (h, 2 * z), (z, h), (h, D))


FULL, QUICK = Sizes(), Sizes(batch=16, hidden=32, latent=4, peak_n=256, is_samples=50)


def step_flops(sizes: Sizes = FULL) -> int:
    """Matmul FLOPs of one training step: forward + weight grads + input grads (not layer 1's)."""
    layers, batch = sizes.layers(), sizes.batch
    forward = sum(2 * batch * i * o for i, o in layers)
    first = 2 * batch * layers[0][0] * layers[0][1]
    return 3 * forward - first


def make_matmul(n: int = 2048):
    """A closure running `n`^3 float32 products in JAX (the machine's practical peak)."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
    mm = jax.jit(jnp.matmul)

    def run(steps: int) -> None:
        for _ in range(steps):
            out = mm(a, b)
        out.block_until_ready()

    return run


def matmul_peak_gflops(n: int = 2048, repeats: int = 7) -> float:
    """GFLOP/s of a float32 n^3 matrix product in JAX (the median of `repeats`)."""
    seconds = common.interleaved({"matmul": make_matmul(n)}, repeats, 1, warmup=1)["matmul"]
    return 2 * n**3 / seconds / 1e9


def make_jax(batch_np: np.ndarray, sizes: Sizes = FULL):
    """A closure running `n` jitted VAE steps on a fixed binary batch [B, 784], and the model."""
    model = models.make_vae(
        "bernoulli", data_dim=D, latent_dim=sizes.latent, encoder_hidden=(sizes.hidden,),
        decoder_hidden=(sizes.hidden,),
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


def make_torch(torch, batch_np: np.ndarray, sizes: Sizes = FULL):
    """The same model and loss in PyTorch (`torch` is the module, or None: returns None)."""
    if torch is None:
        return None
    torch.manual_seed(0)
    lo, hi = models.ENCODER_LOGVAR_RANGE
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    hidden, latent = sizes.hidden, sizes.latent

    class VAE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = torch.nn.Sequential(
                torch.nn.Linear(D, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2 * latent)
            )
            self.dec = torch.nn.Sequential(
                torch.nn.Linear(latent, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, D)
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
            key, x, encode_fn, log_likelihood_fn, num_samples, chunk_size=min(100, num_samples)
        )

    one(params, x[:chunk], jax.random.PRNGKey(0)).block_until_ready()  # compile
    start = time.perf_counter()
    for i in range(0, num_images, chunk):
        one(params, x[i : i + chunk], jax.random.PRNGKey(i)).block_until_ready()
    return time.perf_counter() - start


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="default 7 (quick: 3)")
    parser.add_argument("--steps", type=int, default=None, help="steps per timed run (50; 5)")
    parser.add_argument(
        "--is-images", type=int, default=None, help="0 skips the IS timing (1000; quick: 20)"
    )
    common.add_common_args(parser)
    args = parser.parse_args(argv)
    common.fill(args, "repeats", 3, 7)
    common.fill(args, "steps", 5, 50)
    common.fill(args, "is_images", 20, 1000)
    common.check_common_args(parser, args)
    if args.is_images < 0:
        parser.error(f"--is-images must be >= 0, got {args.is_images}")
    return args


def measure(args, sizes: Sizes, torch) -> dict[str, float]:
    """{name: median seconds per step} of the JAX step, the torch step and the peak matmul,
    and the IS wall time; the model is built from `sizes`."""
    mnist = data.load_mnist("train").flat()[: sizes.batch]
    batch_np = np.asarray(mnist > 0.5, np.float32)
    jax_run, model = make_jax(batch_np, sizes)
    runners = {"jax": jax_run}
    torch_run = make_torch(torch, batch_np, sizes)
    if torch_run is not None:
        runners["torch"] = torch_run
    peak = make_matmul(sizes.peak_n)
    # One product per round (it takes about as long as the steps of one run).
    seconds = common.interleaved(
        {**runners, "matmul": lambda n: peak(1)}, args.repeats, args.steps, warmup=5
    )
    seconds["matmul"] *= args.steps  # the round ran one product, not `steps`
    if args.is_images:
        seconds["is"] = time_importance_sampling(model, args.is_images, sizes.is_samples)
    return seconds


def main(argv: list[str] | None = None) -> dict:
    args = _parse_args(argv)
    sizes = QUICK if args.quick else FULL
    rec = common.Recorder("vae_step", {
        **dataclasses.asdict(sizes), "data_dim": D, "repeats": args.repeats, "steps": args.steps,
        "is_images": args.is_images, "quick": args.quick,
    })  # fmt: skip
    torch = common.import_torch(args.torch_threads)
    print(f"devices: {jax.devices()}")
    seconds = measure(args, sizes, torch)
    flops = step_flops(sizes)
    jax_ms = 1e3 * seconds["jax"]
    peak = 2 * sizes.peak_n**3 / seconds["matmul"] / 1e9
    achieved = flops / seconds["jax"] / 1e9
    rec.raw.update(jax_step_ms=jax_ms, step_gflop=flops / 1e9, jax_gflops=achieved,
                   peak_gflops=peak)  # fmt: skip
    print(f"JAX step (median of {args.repeats} x {args.steps}): {jax_ms:.2f} ms")
    if "torch" in seconds:
        torch_ms = 1e3 * seconds["torch"]
        rec.raw["torch_step_ms"] = torch_ms
        print(f"PyTorch {torch.__version__} step ({torch.get_num_threads()} threads): "
              f"{torch_ms:.2f} ms")  # fmt: skip
        print(f"torch time / JAX time: {torch_ms / jax_ms:.2f} (> 1: JAX faster)")
        rec.figure("jax_over_torch", torch_ms / jax_ms,
                   "torch step time / JAX step time (median); > 1: JAX is faster")  # fmt: skip
    else:
        print("PyTorch not installed (pip install genjax[bench]): no comparison")
    print(f"FLOPs per step: {flops / 1e9:.3f} GFLOP; JAX step reaches {achieved:.1f} GFLOP/s")
    print(f"float32 {sizes.peak_n}^3 matmul peak: {peak:.1f} GFLOP/s; fraction of peak: "
          f"{achieved / peak:.1%}")  # fmt: skip
    rec.figure("fraction_of_peak", achieved / peak,
               f"the JAX step's matmul FLOP/s / a float32 {sizes.peak_n}^3 JAX matmul's FLOP/s "
               "(timed in the same interleaved rounds); higher is better")  # fmt: skip
    if args.is_images:
        tflop = args.is_images * sizes.is_samples * 2 * sum(i * o for i, o in sizes.layers()[2:])
        rec.raw.update(is_seconds=seconds["is"], is_tflop=tflop / 1e12,
                       is_samples=sizes.is_samples)  # fmt: skip
        print(f"IS log p(x), k={sizes.is_samples}, {args.is_images} test images: "
              f"{seconds['is']:.1f} s (~{tflop / 1e12:.3f} TFLOP of decoder products)")  # fmt: skip
    return rec.write(args.json)


if __name__ == "__main__":
    main()
