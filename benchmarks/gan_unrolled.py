"""The unrolled-GAN generator step in JAX (Python loop and lax.scan) vs PyTorch; vmapped seeds.

    python -m benchmarks.gan_unrolled [--repeats 7] [--steps 20] [--ks 0,1,5,10] [--no-torch]
        [--parts a,b]

The setting: G 256-128-128-2 (noise of
dimension 256, two ReLU hidden layers of 128, 2-D output), D 2-128-128-1 (ReLU),
batch 512, float32, CPU; G trains with Adam(1e-3, b1=0.5), D's simulated
updates use Adam(1e-3, b1=0.5, eps_root=1e-8) (see `genjax.gan.unrolled`).

(a) The unrolled generator step: `jax.value_and_grad` of
`genjax.gan.unrolled_generator_loss` w.r.t. G's parameters (through k simulated
Adam updates of D) followed by G's Adam update, jitted once with G's state
donated, for each k in `--ks`, with the trace-time Python loop (`use_scan=False`)
and with `lax.scan` (`use_scan=True`). The PyTorch peer (optional: `pip install
genjax[bench]`) is the same step written by hand: k functional Adam updates of D
with `torch.autograd.grad(..., create_graph=True)`, then the gradient w.r.t. G's
parameters and a `torch.optim.Adam` step. Both sides start from the same weights
and data; the script first checks that their G gradients agree. Printed: ms per
step, torch/JAX ratios per k, the growth in ms per unit of k (least-squares
slope), the scan/loop ratio, and the compile time (trace + lower + compile) of
the loop and scan steps for each k.

(b) 10 seeds of the `gan_nonsaturating` variant (`genjax.gan.variants`, one D and
one G step, each run drawing its own ring-of-8 data with
`genjax.data.mixtures.sample_mixture`) trained as one `jax.vmap`-ed step
(`genjax.train.make_multi_run_step`, labelled "multiseed" in the tables) vs the same
jitted single-seed step called 10 times. Diagnostics beside them: a bare `jax.vmap` of
the step (without the engine's divergence guard and metric averaging) and the engine's
`runs_axis='map'` (`lax.map` over the seeds in one compiled call: sequential
compute, one dispatch), and the PyTorch peer: 10 sequential `torch.func` steps
vs `torch.func.vmap`. Printed: the speedup over sequential, the matmul FLOPs of
one D+G step and the GFLOP/s reached against this machine's float32 matmul
peak (a 2048^3 product, `benchmarks.vae_step`).

Runs alternate between the candidates after a warm-up and medians are printed:
quote the ratios, not the milliseconds, on a shared machine. On an
oversubscribed machine torch's OpenMP threads can stall each other (a small
product can run over ten times slower on 2 threads than on 1 while other jobs
hold the cores): pass `--torch-threads 1` there and say so.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.vae_step import matmul_peak_gflops
from genjax import gan, train
from genjax.data import mixtures
from genjax.gan import variants
from genjax.train import MultiRunOptState, TrainState

NOISE, HIDDEN, OUT, BATCH, SEEDS = 256, (128, 128), 2, 512, 10
LR, B1, B2, EPS, EPS_ROOT = 1e-3, 0.5, 0.999, 1e-8, 1e-8


def layer_dims(noise_dim: int = NOISE, hidden=HIDDEN, out_dim: int = OUT):
    """((in, out) of G's dense layers), ((in, out) of D's dense layers)."""
    g = tuple(zip((noise_dim, *hidden), (*hidden, out_dim), strict=True))
    d = tuple(zip((out_dim, *hidden), (*hidden, 1), strict=True))
    return g, d


def gan_step_flops(batch: int = BATCH, noise_dim: int = NOISE, hidden=HIDDEN) -> int:
    """Matmul FLOPs of one D step + one G step (forward, weight grads, needed input grads).

    D step: G forward on B noises (no gradient), D forward on B real + B fake, D's
    weight gradients and the input gradients of all D layers but the first.
    G step: G and D forward on B noises, input gradients through every D layer
    (no D weight gradients), G's weight gradients and input gradients but the first.
    """
    g_layers, d_layers = layer_dims(noise_dim, hidden)
    fwd = lambda layers, n: sum(2 * n * i * o for i, o in layers)
    first = lambda layers, n: 2 * n * layers[0][0] * layers[0][1]
    g_fwd, d_fwd = fwd(g_layers, batch), fwd(d_layers, batch)
    d_step = g_fwd + 3 * 2 * d_fwd - 2 * first(d_layers, batch)
    g_step = 3 * g_fwd - first(g_layers, batch) + 2 * d_fwd
    return d_step + g_step


def _median_ms(times: list[float], steps: int) -> float:
    return 1e3 * statistics.median(times) / steps


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- (a) JAX


def make_models(noise_dim: int = NOISE, hidden=HIDDEN, key=None):
    """(generate, discriminate, gen_params, disc_params): genjax's flax G and D, initialised."""
    gen = gan.Generator(hidden=tuple(hidden), out_dim=OUT)
    disc = gan.Discriminator(hidden=tuple(hidden))

    @jax.jit  # one compilation instead of one per eager op
    def init(key):
        g_key, d_key = jax.random.split(key)
        return gen.init(g_key, jnp.zeros((1, noise_dim))), disc.init(d_key, jnp.zeros((1, OUT)))

    gen_params, disc_params = init(jax.random.PRNGKey(0) if key is None else key)
    return gen.apply, disc.apply, gen_params, disc_params


def gen_optimizer() -> optax.GradientTransformation:
    return optax.adam(LR, b1=B1, b2=B2, eps=EPS)


def disc_optimizer() -> optax.GradientTransformation:
    return optax.adam(LR, b1=B1, b2=B2, eps=EPS, eps_root=EPS_ROOT)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def unrolled_inputs(key, k: int, batch: int = BATCH, noise_dim: int = NOISE):
    """(real_batches [k, B, 2] from the ring of 8, unroll_noise [k, B, z], noise [B, z])."""
    r_key, u_key, n_key = jax.random.split(key, 3)
    real = mixtures.sample_mixture(r_key, k * batch, mixtures.ring_modes(), mixtures.RING_STD)
    return (
        real.reshape(k, batch, OUT),
        jax.random.normal(u_key, (k, batch, noise_dim)),
        jax.random.normal(n_key, (batch, noise_dim)),
    )


def make_unrolled_grad(generate, discriminate, use_scan: bool):
    """`(gen_params, disc_params, disc_opt_state, real, unroll_noise, noise) -> (loss, grads)`."""

    def loss(gp, dp, d_opt, real, unroll_noise, noise):
        return gan.unrolled_generator_loss(
            gp, dp, d_opt, real, unroll_noise, noise, generate=generate,
            discriminate=discriminate, disc_optimizer=disc_optimizer(), use_scan=use_scan,
            generator_loss=gan.nonsaturating_generator_loss,
        )  # fmt: skip

    return jax.value_and_grad(loss)


def make_unrolled_step(generate, discriminate, use_scan: bool):
    """The generator step: unrolled gradient, then G's Adam update; G's state comes first."""
    grad_fn = make_unrolled_grad(generate, discriminate, use_scan)
    opt = gen_optimizer()

    def step(gp, g_opt, dp, d_opt, real, unroll_noise, noise):
        loss, grads = grad_fn(gp, dp, d_opt, real, unroll_noise, noise)
        updates, g_opt = opt.update(grads, g_opt, gp)
        return optax.apply_updates(gp, updates), g_opt, loss

    return step


def make_jax_unrolled(k: int, use_scan: bool, key=None):
    """(run(n), compile seconds): n compiled unrolled G steps at the benchmark's sizes."""
    generate, discriminate, gp, dp = make_models()
    real, unroll_noise, noise = unrolled_inputs(jax.random.PRNGKey(1) if key is None else key, k)
    gp = jax.tree.map(jnp.copy, gp)  # donated below
    args = (gp, gen_optimizer().init(gp), dp, disc_optimizer().init(dp), real, unroll_noise, noise)
    jitted = jax.jit(make_unrolled_step(generate, discriminate, use_scan), donate_argnums=(0, 1))
    start = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    compile_s = time.perf_counter() - start
    holder = list(args[:2])

    def run(n: int) -> None:
        g, o = holder
        for _ in range(n):
            g, o, loss = compiled(g, o, *args[2:])
        jax.block_until_ready(loss)
        holder[:] = [g, o]

    return run, compile_s


# ----------------------------------------------------------------------------- (a) torch


def dense_list(tree) -> list[np.ndarray]:
    """[W_1 (out, in), b_1, W_2, b_2, ...]: a flax MLP's {'hidden_i', 'out'} in torch's layout."""
    names = sorted((n for n in tree if n.startswith("hidden_")), key=lambda n: int(n[7:]))
    out = []
    for name in [*names, "out"]:
        out += [np.asarray(tree[name]["kernel"]).T.copy(), np.asarray(tree[name]["bias"])]
    return out


def _torch_mlp(torch, ps, x):
    for i in range(0, len(ps) - 2, 2):
        x = torch.relu(torch.nn.functional.linear(x, ps[i], ps[i + 1]))
    return torch.nn.functional.linear(x, ps[-2], ps[-1])


def make_torch_unrolled(k: int, key=None):
    """(run(n), grads()) of the same unrolled step in PyTorch, or None without torch. On
    the GPU when torch sees one (as JAX does), else on the CPU."""
    try:
        import torch
    except ImportError:
        return None
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    softplus = torch.nn.functional.softplus
    _, _, gp, dp = make_models()
    real, unroll_noise, noise = (
        torch.from_numpy(np.array(a)).to(dev)
        for a in unrolled_inputs(jax.random.PRNGKey(1) if key is None else key, k)
    )
    g = [torch.tensor(a, requires_grad=True, device=dev) for a in dense_list(gp["params"]["mlp"])]
    d = [torch.tensor(a, requires_grad=True, device=dev) for a in dense_list(dp["params"])]
    d_m = [torch.zeros_like(p) for p in d]  # D's Adam state, as optax's init: count 0
    d_v = [torch.zeros_like(p) for p in d]
    opt = torch.optim.Adam(g, lr=LR, betas=(B1, B2), eps=EPS)

    def loss():
        ps, m, v = d, d_m, d_v
        for i in range(k):
            fake = _torch_mlp(torch, g, unroll_noise[i])
            d_loss = (
                softplus(-_torch_mlp(torch, ps, real[i])).sum()
                + softplus(_torch_mlp(torch, ps, fake)).sum()
            ) / (2 * real.shape[1])
            grads = torch.autograd.grad(d_loss, ps, create_graph=True)
            t = i + 1
            m = [B1 * a + (1 - B1) * gr for a, gr in zip(m, grads, strict=True)]
            v = [B2 * a + (1 - B2) * gr * gr for a, gr in zip(v, grads, strict=True)]
            ps = [
                p - LR * (a / (1 - B1**t)) / (torch.sqrt(b / (1 - B2**t) + EPS_ROOT) + EPS)
                for p, a, b in zip(ps, m, v, strict=True)
            ]
        return softplus(-_torch_mlp(torch, ps, _torch_mlp(torch, g, noise))).mean()

    def grads():
        return torch.autograd.grad(loss(), g)

    def run(n: int) -> None:
        for _ in range(n):
            for p, gr in zip(g, grads(), strict=True):
                p.grad = gr
            opt.step()
        if dev == "cuda":
            torch.cuda.synchronize()  # the timer reads the end of the work, not of its launch

    return run, grads


def check_torch_gradients(k: int) -> float | None:
    """Max |JAX grad - torch grad| / max |JAX grad| of G's unrolled gradient at step 0, both
    at full float32 matmul precision (with a GPU's default TF32 matmuls in JAX the
    difference to torch's float32 is of order 0.1)."""
    peer = make_torch_unrolled(k)
    if peer is None:
        return None
    generate, discriminate, gp, dp = make_models()
    real, unroll_noise, noise = unrolled_inputs(jax.random.PRNGKey(1), k)
    d_opt = disc_optimizer().init(dp)
    with jax.default_matmul_precision("highest"):
        _, grads = jax.jit(make_unrolled_grad(generate, discriminate, use_scan=False))(
            gp, dp, d_opt, real, unroll_noise, noise
        )
    ours = dense_list(grads["params"]["mlp"])
    theirs = [t.detach().cpu().numpy() for t in peer[1]()]
    scale = max(np.abs(a).max() for a in ours)
    return max(np.abs(a - b).max() for a, b in zip(ours, theirs, strict=True)) / scale


def benchmark_unrolled(ks, repeats: int, steps: int, use_torch: bool):
    """{k: {'loop', 'scan', 'torch': ms}}, {k: {'loop', 'scan': compile s}}."""
    runners, compile_s = {}, {}
    for k in ks:
        loop, loop_c = make_jax_unrolled(k, use_scan=False)
        scan, scan_c = make_jax_unrolled(k, use_scan=True)
        runners[k] = {"loop": loop, "scan": scan}
        compile_s[k] = {"loop": loop_c, "scan": scan_c}
        peer = make_torch_unrolled(k) if use_torch else None
        if peer is not None:
            runners[k]["torch"] = peer[0]
        print(f"  k={k}: compiled loop {loop_c:.2f} s, scan {scan_c:.2f} s", flush=True)
    for per_k in runners.values():  # warm-up
        for run in per_k.values():
            run(2)
    times = {k: {name: [] for name in per_k} for k, per_k in runners.items()}
    for _ in range(repeats):
        for k, per_k in runners.items():
            for name, run in per_k.items():  # interleaved
                times[k][name].append(_timed(run, steps))
    ms = {k: {n: _median_ms(ts, steps) for n, ts in per_k.items()} for k, per_k in times.items()}
    return ms, compile_s


def slope_fit(ks, values) -> tuple[float, float]:
    """(slope per unit k, intercept) of a least-squares line through (k, value)."""
    if len(set(ks)) < 2:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(np.asarray(ks, float), np.asarray(values, float), 1)
    return float(slope), float(intercept)


# ----------------------------------------------------------------------------- (b) seeds


def make_variant_parts(batch: int = BATCH, noise_dim: int = NOISE, hidden=HIDDEN):
    """(single-run step, init(key) -> TrainState) of the 'gan_nonsaturating' variant."""
    gen = gan.Generator(hidden=tuple(hidden), out_dim=OUT)
    disc = gan.Discriminator(hidden=tuple(hidden))
    gen_opt, disc_opt = gen_optimizer(), disc_optimizer()
    modes = jnp.asarray(mixtures.ring_modes())

    def sample_data(key, n):
        return mixtures.sample_mixture(key, n, modes, mixtures.RING_STD)

    step = variants.make_variant_step(
        variants.get_variant("gan_nonsaturating"), generate=gen.apply,
        discriminate=disc.apply, gen_optimizer=gen_opt, disc_optimizer=disc_opt,
        sample_data=sample_data, noise_dim=noise_dim, batch_size=batch,
    )  # fmt: skip

    def init(key):
        g_key, d_key, run_key = jax.random.split(key, 3)
        return gan.init_gan_state(
            gen.init(g_key, jnp.zeros((1, noise_dim))), disc.init(d_key, jnp.zeros((1, OUT))),
            gen_opt, disc_opt, run_key,
        )  # fmt: skip

    return step, init


def make_jax_seed_runners(seeds: int = SEEDS) -> dict:
    """{name: run(n)}: n training steps of all `seeds` runs, several ways."""
    step, init = make_variant_parts()
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)

    def per_run(state):
        def one(params, opt_state, key):
            new, metrics = step(TrainState(state.step, params, opt_state, key), None)
            return new.params, new.opt_state, metrics

        return one

    def bare_vmap(state):
        inner, diverged = state.opt_state
        params, inner, metrics = jax.vmap(per_run(state))(state.params, inner, state.key)
        opt_state = MultiRunOptState(inner, diverged)
        return TrainState(state.step + 1, params, opt_state, state.key), metrics

    def run_step(state):
        return step(state, None)

    multi = train.make_multi_run_step(run_step)
    mapped = train.make_multi_run_step(run_step, runs_axis="map")
    stacked_fns = {
        "vmap (multiseed)": jax.jit(lambda s: multi(s, None), donate_argnums=(0,)),
        "vmap (bare jax.vmap)": jax.jit(bare_vmap, donate_argnums=(0,)),
        "lax.map (multiseed, runs_axis='map')": jax.jit(
            lambda s: mapped(s, None), donate_argnums=(0,)
        ),
    }
    single = jax.jit(run_step, donate_argnums=(0,))
    runners = {}
    holder = {"sequential": [init(key) for key in keys]}

    def sequential(n: int) -> None:
        states = holder["sequential"]
        for _ in range(n):
            for r in range(seeds):
                states[r], metrics = single(states[r])
        jax.block_until_ready(metrics)

    runners["sequential (10 calls)"] = sequential

    def make_stacked(name, fn):
        holder[name] = train.stack_runs(init, keys)

        def run(n: int) -> None:
            state = holder[name]
            for _ in range(n):
                state, metrics = fn(state)
            jax.block_until_ready(metrics)
            holder[name] = state

        return run

    for name, fn in stacked_fns.items():
        runners[name] = make_stacked(name, fn)
    return runners


def make_torch_seed_runners(seeds: int = SEEDS, batch: int = BATCH, noise_dim: int = NOISE):
    """{name: run(n)} of the same D+G step with torch.func: sequential and vmapped, or {}."""
    try:
        import torch
        from torch.func import grad, vmap
    except ImportError:
        return {}
    softplus = torch.nn.functional.softplus
    g_layers, d_layers = layer_dims(noise_dim)
    gen = torch.Generator().manual_seed(0)

    def init(layers):
        out = []
        for i, o in layers:
            out += [torch.randn(seeds, o, i, generator=gen) / i**0.5, torch.zeros(seeds, o)]
        return tuple(out)

    def d_loss(dp, gp, real, noise):
        fake = _torch_mlp(torch, gp, noise)
        real_terms = softplus(-_torch_mlp(torch, dp, real)).sum()
        return (real_terms + softplus(_torch_mlp(torch, dp, fake)).sum()) / (2 * batch)

    def g_loss(gp, dp, noise):
        return softplus(-_torch_mlp(torch, dp, _torch_mlp(torch, gp, noise))).mean()

    def adam(ps, grads, m, v, t, eps_root=0.0):
        m = tuple(B1 * a + (1 - B1) * gr for a, gr in zip(m, grads, strict=True))
        v = tuple(B2 * a + (1 - B2) * gr * gr for a, gr in zip(v, grads, strict=True))
        ps = tuple(
            p - LR * (a / (1 - B1**t)) / (torch.sqrt(b / (1 - B2**t) + eps_root) + EPS)
            for p, a, b in zip(ps, m, v, strict=True)
        )
        return ps, m, v

    def step(gp, dp, gm, gv, dm, dv, real, d_noise, g_noise, t):
        dp, dm, dv = adam(dp, grad(d_loss)(dp, gp, real, d_noise), dm, dv, t, EPS_ROOT)
        gp, gm, gv = adam(gp, grad(g_loss)(gp, dp, g_noise), gm, gv, t)
        return gp, dp, gm, gv, dm, dv

    modes = torch.from_numpy(mixtures.ring_modes())

    def data(shape):
        real = modes[torch.randint(0, len(modes), shape)] + mixtures.RING_STD * torch.randn(
            *shape, OUT
        )
        return real, torch.randn(*shape, noise_dim), torch.randn(*shape, noise_dim)

    gp, dp = init(g_layers), init(d_layers)
    zeros = lambda ps: tuple(torch.zeros_like(p) for p in ps)
    stacked = [gp, dp, zeros(gp), zeros(gp), zeros(dp), zeros(dp)]
    singles = [[tuple(p[r].clone() for p in group) for group in stacked] for r in range(seeds)]
    batched = vmap(step, in_dims=(0,) * 9 + (None,))
    counter = {"vmap": 0, "seq": 0}

    def run_vmap(n: int) -> None:
        with torch.no_grad():
            for _ in range(n):
                counter["vmap"] += 1
                stacked[:] = batched(*stacked, *data((seeds, batch)), counter["vmap"])

    def run_sequential(n: int) -> None:
        with torch.no_grad():
            for _ in range(n):
                counter["seq"] += 1
                for r in range(seeds):
                    singles[r] = list(step(*singles[r], *data((batch,)), counter["seq"]))

    return {"torch sequential (10 calls)": run_sequential, "torch.func.vmap": run_vmap}


def benchmark_seeds(repeats: int, steps: int, use_torch: bool) -> dict[str, float]:
    """{name: ms per step of all seeds}."""
    runners = make_jax_seed_runners()
    if use_torch:
        runners.update(make_torch_seed_runners())
    for run in runners.values():
        run(2)  # compile and warm up
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            times[name].append(_timed(run, steps))
    return {name: _median_ms(ts, steps) for name, ts in times.items()}


# ----------------------------------------------------------------------------- report


def unrolled_table(ks, ms, compile_s, use_torch: bool) -> list[str]:
    """(a)'s report: per-k medians, ratios and compile times, and the growth with k."""
    names = ["loop", "scan"] + (["torch"] if use_torch else [])
    fits = {name: slope_fit(ks, [ms[k][name] for k in ks]) for name in names}
    lines = ["", "## (a) Unrolled generator step (ms per step, median)", ""]
    header = "| k | JAX loop | JAX scan | scan/loop | compile loop (s) | compile scan (s) |"
    rule = "|---|---|---|---|---|---|"
    if use_torch:
        header += " torch | torch/loop | torch/scan |"
        rule += "---|---|---|"
    lines += [header, rule]
    for k in ks:
        m, c = ms[k], compile_s[k]
        row = (f"| {k} | {m['loop']:.2f} | {m['scan']:.2f} | {m['scan'] / m['loop']:.2f} | "
               f"{c['loop']:.2f} | {c['scan']:.2f} |")  # fmt: skip
        if use_torch:
            t = m["torch"]
            row += f" {t:.2f} | {t / m['loop']:.2f} | {t / m['scan']:.2f} |"
        lines.append(row)
    lines += ["", "Growth with k (least-squares line through the k's above):", ""]
    for name, (slope, intercept) in fits.items():
        lines.append(f"- {name}: {slope:.2f} ms per unit k (intercept {intercept:.2f} ms)")
    return lines


def seeds_table(seed_ms: dict[str, float], flops: float, peak: float) -> list[str]:
    """(b)'s report: each runner's ms, speedup over its sequential peer, and GFLOP/s."""
    lines = ["", f"## (b) {SEEDS} seeds, one D + one G step (ms per step of all seeds)", ""]
    lines += [f"FLOPs of one seed's D+G step (matmuls): {flops / 1e9:.3f} GFLOP; "
              f"float32 2048^3 matmul peak: {peak:.1f} GFLOP/s", ""]  # fmt: skip
    lines += ["| runner | ms | speedup vs sequential | GFLOP/s | fraction of peak |",
              "|---|---|---|---|---|"]  # fmt: skip
    for name, value in seed_ms.items():
        base = seed_ms["torch sequential (10 calls)" if name.startswith("torch") else
                       "sequential (10 calls)"]  # fmt: skip
        gflops = SEEDS * flops / (value / 1e3) / 1e9
        lines.append(f"| {name} | {value:.2f} | {base / value:.2f} | {gflops:.1f} | "
                     f"{gflops / peak:.1%} |")  # fmt: skip
    return lines


# ----------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed run")
    parser.add_argument("--ks", default="0,1,5,10", help="comma-separated unroll steps")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch peers")
    parser.add_argument(
        "--parts", default="a,b", help="which parts to run: a (unrolled step), b (seeds), or both"
    )
    parser.add_argument(
        "--torch-threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)"
    )
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    if any(k < 0 for k in ks):
        parser.error(f"--ks must be >= 0, got {ks}")
    parts = set(args.parts.split(","))
    if not parts or not parts <= {"a", "b"}:
        parser.error(f"--parts must be a, b or a,b; got {args.parts!r}")
    use_torch = not args.no_torch
    if use_torch:
        try:
            import torch
        except ImportError:
            print("PyTorch not installed (pip install genjax[bench]): no comparison")
            use_torch = False
    print(f"devices: {jax.devices()}")
    if use_torch:
        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
        check_k = max(1, min(ks))
        err = check_torch_gradients(check_k)
        print(f"G gradient, JAX vs torch at k={check_k}: max abs diff / max abs = {err:.1e}")

    if "a" in parts:
        print(
            f"(a) unrolled G step, batch {BATCH}, {args.repeats} x {args.steps} steps, compiling:"
        )
        ms, compile_s = benchmark_unrolled(ks, args.repeats, args.steps, use_torch)
        print("\n".join(unrolled_table(ks, ms, compile_s, use_torch)), flush=True)
    if "b" in parts:
        print(f"(b) {SEEDS} seeds, gan_nonsaturating, batch {BATCH}: timing ...", flush=True)
        seed_ms = benchmark_seeds(args.repeats, args.steps, use_torch)
        print("\n".join(seeds_table(seed_ms, gan_step_flops(), matmul_peak_gflops())))


if __name__ == "__main__":
    main()
