"""The unrolled-GAN generator step in JAX (Python loop and lax.scan) vs PyTorch; vmapped seeds.

    python -m benchmarks.gan_unrolled [--repeats 7] [--steps 20] [--ks 0,1,5,10] [--no-torch]
        [--parts a,b] [--cpu_devices N] [--json PATH] [--quick] [--torch-threads N]

The setting: G 256-128-128-2 (noise of
dimension 256, two ReLU hidden layers of 128, 2-D output), D 2-128-128-1 (ReLU),
batch 512, float32, CPU; G trains with Adam(1e-3, b1=0.5), D's simulated
updates use Adam(1e-3, b1=0.5, eps_root=1e-8) (see `genjax.gan.unrolled`).

(a) The unrolled generator step: `jax.value_and_grad` of
`genjax.gan.unrolled_generator_loss` w.r.t. G's parameters (through k simulated
Adam updates of D) followed by G's Adam update, jitted once with G's state
donated, for each k in `--ks`, with the trace-time Python loop (`use_scan=False`,
the default, which the experiments use) and with `lax.scan` (`use_scan=True`).
The PyTorch peer (optional: `pip install genjax[bench]`) is the same step written
by hand: k functional Adam updates of D with `torch.autograd.grad(...,
create_graph=True)`, then the gradient w.r.t. G's parameters and a
`torch.optim.Adam` step. Both sides start from the same weights and data; the
script first checks that their G gradients agree. Printed: ms per step, torch/JAX
ratios per k, the growth in ms per unit of k (least-squares slope), the scan/loop
ratio, and the compile time (trace + lower + compile) of the loop and scan steps
for each k.

(b) 10 seeds of the `gan_nonsaturating` variant (`genjax.gan.variants`, one D and
one G step, each run drawing its own ring-of-8 data with
`genjax.data.mixtures.sample_mixture`) trained as one `jax.vmap`-ed step
(`genjax.train.make_multi_run_step`, labelled "multiseed" in the tables) vs the same
jitted single-seed step called 10 times. Diagnostics beside them: a bare `jax.vmap` of
the step (without the engine's divergence guard and metric averaging) and the engine's
`runs_axis='map'` (`lax.map` over the seeds in one compiled call: sequential
compute, one dispatch), and the PyTorch peer: 10 sequential `torch.func` steps
vs `torch.func.vmap`. With more than one JAX device, the candidate that splits the runs
over them (`runs_mesh`, `shard_runs`, `make_multi_run_step(mesh=...)`): on a CPU the
script can first split the host into one device per core
(`genjax.train.use_cpu_devices`; `--cpu_devices 0`, as `benchmarks.run_all` passes
it, or N devices), because XLA steps one device's batched program on about one
core. Printed: the speedup over sequential, the matmul FLOPs of
one D+G step and the GFLOP/s reached against this machine's float32 matmul
peak (a 2048^3 product, `benchmarks.vae_step`).

Runs alternate between the candidates after a warm-up and medians are printed:
quote the ratios, not the milliseconds, on a shared machine. On an
oversubscribed machine torch's OpenMP threads can stall each other (a small
product can run over ten times slower on 2 threads than on 1 while other jobs
hold the cores): pass `--torch-threads 1` there and say so.

`--json PATH` writes the figures `torch_over_jax_k<k>` (torch step time / JAX
Python-loop step time at each k: above 1, JAX is faster), `compile_s_k<k>` (the
Python-loop step's compile seconds at the largest k), `vmap_over_sequential`
(10 sequential calls' time / the multiseed vmapped step's time: above 1, vmap is
faster), `vmap_devices_over_sequential` (the same with the runs split over the
devices, when there are several), the medians and the environment
(`benchmarks.common`). `--quick`: G 8-16-16-2, D 2-16-16-1, batch 32, k in 0,1,
3 seeds, 2 x 2 steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import common
from benchmarks.vae_step import matmul_peak_gflops
from genjax import gan, train
from genjax.data import mixtures
from genjax.gan import variants
from genjax.train import MultiRunOptState, TrainState
from genjax.train.loop import CPU_INFLIGHT_STEPS

OUT = 2
LR, B1, B2, EPS, EPS_ROOT = 1e-3, 0.5, 0.999, 1e-8, 1e-8


@dataclasses.dataclass(frozen=True)
class Sizes:
    noise: int = 256
    hidden: tuple[int, ...] = (128, 128)
    batch: int = 512
    seeds: int = 10
    peak_n: int = 2048  # the side of the matmul that measures the peak


FULL, QUICK = Sizes(), Sizes(noise=8, hidden=(16, 16), batch=32, seeds=3, peak_n=256)


def layer_dims(sizes: Sizes = FULL):
    """((in, out) of G's dense layers), ((in, out) of D's dense layers)."""
    g = tuple(zip((sizes.noise, *sizes.hidden), (*sizes.hidden, OUT), strict=True))
    d = tuple(zip((OUT, *sizes.hidden), (*sizes.hidden, 1), strict=True))
    return g, d


def gan_step_flops(sizes: Sizes = FULL) -> int:
    """Matmul FLOPs of one D step + one G step (forward, weight grads, needed input grads).

    D step: G forward on B noises (no gradient), D forward on B real + B fake, D's
    weight gradients and the input gradients of all D layers but the first.
    G step: G and D forward on B noises, input gradients through every D layer
    (no D weight gradients), G's weight gradients and input gradients but the first.
    """
    g_layers, d_layers = layer_dims(sizes)
    batch = sizes.batch
    fwd = lambda layers, n: sum(2 * n * i * o for i, o in layers)
    first = lambda layers, n: 2 * n * layers[0][0] * layers[0][1]
    g_fwd, d_fwd = fwd(g_layers, batch), fwd(d_layers, batch)
    d_step = g_fwd + 3 * 2 * d_fwd - 2 * first(d_layers, batch)
    g_step = 3 * g_fwd - first(g_layers, batch) + 2 * d_fwd
    return d_step + g_step


# ----------------------------------------------------------------------------- (a) JAX


def make_models(sizes: Sizes = FULL, key=None):
    """(generate, discriminate, gen_params, disc_params): genjax's flax G and D, initialised."""
    gen = gan.Generator(hidden=tuple(sizes.hidden), out_dim=OUT)
    disc = gan.Discriminator(hidden=tuple(sizes.hidden))

    @jax.jit  # one compilation instead of one per eager op
    def init(key):
        g_key, d_key = jax.random.split(key)
        return gen.init(g_key, jnp.zeros((1, sizes.noise))), disc.init(d_key, jnp.zeros((1, OUT)))

    gen_params, disc_params = init(jax.random.PRNGKey(0) if key is None else key)
    return gen.apply, disc.apply, gen_params, disc_params


def gen_optimizer() -> optax.GradientTransformation:
    return optax.adam(LR, b1=B1, b2=B2, eps=EPS)


def disc_optimizer() -> optax.GradientTransformation:
    return optax.adam(LR, b1=B1, b2=B2, eps=EPS, eps_root=EPS_ROOT)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _inputs(key, k: int, batch: int, noise_dim: int):
    r_key, u_key, n_key = jax.random.split(key, 3)
    real = mixtures.sample_mixture(r_key, k * batch, mixtures.ring_modes(), mixtures.RING_STD)
    return (
        real.reshape(k, batch, OUT),
        jax.random.normal(u_key, (k, batch, noise_dim)),
        jax.random.normal(n_key, (batch, noise_dim)),
    )


def unrolled_inputs(key, k: int, sizes: Sizes = FULL):
    """(real_batches [k, B, 2] from the ring of 8, unroll_noise [k, B, z], noise [B, z])."""
    return _inputs(key, k, sizes.batch, sizes.noise)


def make_unrolled_grad(generate, discriminate, use_scan: bool, remat: bool = False):
    """`(gen_params, disc_params, disc_opt_state, real, unroll_noise, noise) -> (loss, grads)`."""

    def loss(gp, dp, d_opt, real, unroll_noise, noise):
        return gan.unrolled_generator_loss(
            gp, dp, d_opt, real, unroll_noise, noise, generate=generate,
            discriminate=discriminate, disc_optimizer=disc_optimizer(), use_scan=use_scan,
            generator_loss=gan.nonsaturating_generator_loss, remat=remat,
        )  # fmt: skip

    return jax.value_and_grad(loss)


def make_unrolled_step(generate, discriminate, use_scan: bool, remat: bool = False):
    """The generator step: unrolled gradient, then G's Adam update; G's state comes first."""
    grad_fn = make_unrolled_grad(generate, discriminate, use_scan, remat)
    opt = gen_optimizer()

    def step(gp, g_opt, dp, d_opt, real, unroll_noise, noise):
        loss, grads = grad_fn(gp, dp, d_opt, real, unroll_noise, noise)
        updates, g_opt = opt.update(grads, g_opt, gp)
        return optax.apply_updates(gp, updates), g_opt, loss

    return step


def unrolled_step_args(k: int, sizes: Sizes = FULL, key=None):
    """(generate, discriminate, the step's arguments (G's state copied: it is donated))."""
    generate, discriminate, gp, dp = make_models(sizes)
    real, unroll_noise, noise = unrolled_inputs(
        jax.random.PRNGKey(1) if key is None else key, k, sizes
    )
    gp = jax.tree.map(jnp.copy, gp)
    args = (gp, gen_optimizer().init(gp), dp, disc_optimizer().init(dp), real, unroll_noise, noise)
    return generate, discriminate, args


def make_jax_unrolled(k: int, use_scan: bool, sizes: Sizes = FULL, key=None):
    """(run(n), compile seconds): n compiled unrolled G steps."""
    generate, discriminate, args = unrolled_step_args(k, sizes, key)
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


def make_torch_unrolled(torch, k: int, sizes: Sizes = FULL, key=None):
    """(run(n), grads()) of the same unrolled step in PyTorch (`torch`: the module, or None:
    returns None). On the GPU when torch sees one (as JAX does), else on the CPU."""
    if torch is None:
        return None
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    softplus = torch.nn.functional.softplus
    _, _, gp, dp = make_models(sizes)
    real, unroll_noise, noise = (
        torch.from_numpy(np.array(a)).to(dev)
        for a in unrolled_inputs(jax.random.PRNGKey(1) if key is None else key, k, sizes)
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


def check_torch_gradients(torch, k: int, sizes: Sizes = FULL) -> float | None:
    """Max |JAX grad - torch grad| / max |JAX grad| of G's unrolled gradient at step 0, both
    at full float32 matmul precision (with a GPU's default TF32 matmuls in JAX the
    difference to torch's float32 is of order 0.1)."""
    peer = make_torch_unrolled(torch, k, sizes)
    if peer is None:
        return None
    generate, discriminate, gp, dp = make_models(sizes)
    real, unroll_noise, noise = unrolled_inputs(jax.random.PRNGKey(1), k, sizes)
    d_opt = disc_optimizer().init(dp)
    with jax.default_matmul_precision("highest"):
        _, grads = jax.jit(make_unrolled_grad(generate, discriminate, use_scan=False))(
            gp, dp, d_opt, real, unroll_noise, noise
        )
    ours = dense_list(grads["params"]["mlp"])
    theirs = [t.detach().cpu().numpy() for t in peer[1]()]
    scale = max(np.abs(a).max() for a in ours)
    return float(max(np.abs(a - b).max() for a, b in zip(ours, theirs, strict=True)) / scale)


def benchmark_unrolled(ks, repeats: int, steps: int, torch, sizes: Sizes = FULL):
    """{k: {'loop', 'scan', 'torch': ms}}, {k: {'loop', 'scan': compile s}}."""
    runners, compile_s = {}, {}
    for k in ks:
        loop, loop_c = make_jax_unrolled(k, use_scan=False, sizes=sizes)
        scan, scan_c = make_jax_unrolled(k, use_scan=True, sizes=sizes)
        runners[(k, "loop")], runners[(k, "scan")] = loop, scan
        compile_s[k] = {"loop": loop_c, "scan": scan_c}
        peer = make_torch_unrolled(torch, k, sizes)
        if peer is not None:
            runners[(k, "torch")] = peer[0]
        print(f"  k={k}: compiled loop {loop_c:.2f} s, scan {scan_c:.2f} s", flush=True)
    seconds = common.interleaved(runners, repeats, steps)
    ms = {k: {} for k in ks}
    for (k, name), value in seconds.items():
        ms[k][name] = 1e3 * value
    return ms, compile_s


def slope_fit(ks, values) -> tuple[float, float]:
    """(slope per unit k, intercept) of a least-squares line through (k, value)."""
    if len(set(ks)) < 2:
        return float("nan"), float("nan")
    fit = common.line_fit(list(ks), list(values))
    return fit["slope"], fit["intercept"]


# ----------------------------------------------------------------------------- (b) seeds


def make_variant_parts(sizes: Sizes = FULL):
    """(single-run step, init(key) -> TrainState) of the 'gan_nonsaturating' variant."""
    gen = gan.Generator(hidden=tuple(sizes.hidden), out_dim=OUT)
    disc = gan.Discriminator(hidden=tuple(sizes.hidden))
    gen_opt, disc_opt = gen_optimizer(), disc_optimizer()
    modes = jnp.asarray(mixtures.ring_modes())

    def sample_data(key, n):
        return mixtures.sample_mixture(key, n, modes, mixtures.RING_STD)

    step = variants.make_variant_step(
        variants.get_variant("gan_nonsaturating"), generate=gen.apply,
        discriminate=disc.apply, gen_optimizer=gen_opt, disc_optimizer=disc_opt,
        sample_data=sample_data, noise_dim=sizes.noise, batch_size=sizes.batch,
    )  # fmt: skip

    def init(key):
        g_key, d_key, run_key = jax.random.split(key, 3)
        return gan.init_gan_state(
            gen.init(g_key, jnp.zeros((1, sizes.noise))), disc.init(d_key, jnp.zeros((1, OUT))),
            gen_opt, disc_opt, run_key,
        )  # fmt: skip

    return step, init


def _stacked_step_fns(step) -> dict:
    """{name: jitted step of all runs' stacked TrainState}: the engine's vmap, a bare
    `jax.vmap` of the step, and the engine's `lax.map`."""

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
    return {
        "vmap (multiseed)": jax.jit(lambda s: multi(s, None), donate_argnums=(0,)),
        "vmap (bare jax.vmap)": jax.jit(bare_vmap, donate_argnums=(0,)),
        "lax.map (multiseed, runs_axis='map')": jax.jit(
            lambda s: mapped(s, None), donate_argnums=(0,)
        ),
    }


def make_jax_seed_runners(sizes: Sizes = FULL) -> dict:
    """{name: run(n)}: n training steps of all `sizes.seeds` runs, several ways."""
    step, init = make_variant_parts(sizes)
    seeds = sizes.seeds
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    single = jax.jit(lambda state: step(state, None), donate_argnums=(0,))
    holder = {"sequential": [init(key) for key in keys]}

    def sequential(n: int) -> None:
        states = holder["sequential"]
        for _ in range(n):
            for r in range(seeds):
                states[r], metrics = single(states[r])
        jax.block_until_ready(metrics)

    runners = {SEQUENTIAL: sequential}

    def make_stacked(name, fn):
        holder[name] = train.stack_runs(init, keys)

        def run(n: int) -> None:
            state = holder[name]
            for _ in range(n):
                state, metrics = fn(state)
            jax.block_until_ready(metrics)
            holder[name] = state

        return run

    for name, fn in _stacked_step_fns(step).items():
        runners[name] = make_stacked(name, fn)
    if jax.device_count() > 1:  # e.g. one CPU device per core (train.use_cpu_devices)
        runners[DEVICES] = _devices_runner(step, init, keys)
    return runners


def _devices_runner(step, init, keys):
    """run(n) of the multiseed vmap with its runs split over every device (`runs_mesh`)."""
    mesh, seeds = train.runs_mesh(), len(keys)
    multi = train.make_multi_run_step(lambda s: step(s, None), mesh=mesh, num_runs=seeds)
    fn = jax.jit(lambda s: multi(s, None), donate_argnums=(0,))
    holder = {"state": train.shard_runs(train.stack_runs(init, keys), mesh)}

    def run(n: int) -> None:
        state = holder["state"]
        for i in range(n):
            state, metrics = fn(state)
            if (i + 1) % CPU_INFLIGHT_STEPS == 0:  # as genjax.train.train does
                jax.block_until_ready(metrics)
        jax.block_until_ready(metrics)
        holder["state"] = state

    return run


SEQUENTIAL, TORCH_SEQUENTIAL = "sequential (one call per seed)", "torch sequential"
DEVICES = "vmap, runs split over the devices (multiseed, runs_mesh)"


def make_torch_seed_runners(torch, sizes: Sizes = FULL):
    """{name: run(n)} of the same D+G step with torch.func: sequential and vmapped, or {}."""
    if torch is None:
        return {}
    from torch.func import grad, vmap

    softplus = torch.nn.functional.softplus
    seeds, batch, noise_dim = sizes.seeds, sizes.batch, sizes.noise
    g_layers, d_layers = layer_dims(sizes)
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

    return {TORCH_SEQUENTIAL: run_sequential, "torch.func.vmap": run_vmap}


def benchmark_seeds(repeats: int, steps: int, torch, sizes: Sizes = FULL) -> dict[str, float]:
    """{name: ms per step of all seeds}, the runners interleaved."""
    runners = make_jax_seed_runners(sizes)
    runners.update(make_torch_seed_runners(torch, sizes))
    seconds = common.interleaved(runners, repeats, steps)
    return {name: 1e3 * value for name, value in seconds.items()}


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


def seeds_table(seed_ms: dict[str, float], sizes: Sizes, flops: float, peak: float) -> list[str]:
    """(b)'s report: each runner's ms, speedup over its sequential peer, and GFLOP/s."""
    seeds = sizes.seeds
    lines = ["", f"## (b) {seeds} seeds, one D + one G step (ms per step of all seeds)", ""]
    lines += [f"FLOPs of one seed's D+G step (matmuls): {flops / 1e9:.3f} GFLOP; "
              f"float32 {sizes.peak_n}^3 matmul peak: {peak:.1f} GFLOP/s", ""]  # fmt: skip
    lines += ["| runner | ms | speedup vs sequential | GFLOP/s | fraction of peak |",
              "|---|---|---|---|---|"]  # fmt: skip
    for name, value in seed_ms.items():
        base = seed_ms[TORCH_SEQUENTIAL if name.startswith("torch") else SEQUENTIAL]
        gflops = seeds * flops / (value / 1e3) / 1e9
        lines.append(f"| {name} | {value:.2f} | {base / value:.2f} | {gflops:.1f} | "
                     f"{gflops / peak:.1%} |")  # fmt: skip
    return lines


# ----------------------------------------------------------------------------- main


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="default 7 (quick: 2)")
    parser.add_argument("--steps", type=int, default=None, help="steps per timed run (20; 2)")
    parser.add_argument("--ks", default=None, help="comma-separated unroll steps (0,1,5,10; 0,1)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch peers")
    parser.add_argument(
        "--parts", default="a,b", help="which parts to run: a (unrolled step), b (seeds), or both"
    )
    parser.add_argument(
        "--cpu_devices", type=int, default=1, help="JAX CPU devices to split the host into "
        "for (b)'s runs-split candidate (0: one per core; 1: no split, the default)",
    )  # fmt: skip
    common.add_common_args(parser)
    args = parser.parse_args(argv)
    if args.cpu_devices < 0:
        parser.error(f"--cpu_devices must be >= 0 (0: one per core), got {args.cpu_devices}")
    common.fill(args, "repeats", 2, 7)
    common.fill(args, "steps", 2, 20)
    ks = args.ks or ("0,1" if args.quick else "0,1,5,10")
    try:
        args.ks = [int(k) for k in ks.split(",")]
    except ValueError:
        parser.error(f"--ks must be comma-separated integers, got {ks!r}")
    if any(k < 0 for k in args.ks):
        parser.error(f"--ks must be >= 0, got {args.ks}")
    args.parts = set(args.parts.split(","))
    if not args.parts <= {"a", "b"}:
        parser.error(f"--parts must be a, b or a,b; got {','.join(sorted(args.parts))!r}")
    common.check_common_args(parser, args)
    return args


def run_part_a(args, sizes: Sizes, torch, rec: common.Recorder) -> None:
    """Times (a) and adds its figures: torch / JAX loop per k, the loop's compile at max k."""
    print(f"(a) unrolled G step, batch {sizes.batch}, {args.repeats} x {args.steps} steps, "
          "compiling:")  # fmt: skip
    ms, compile_s = benchmark_unrolled(args.ks, args.repeats, args.steps, torch, sizes)
    print("\n".join(unrolled_table(args.ks, ms, compile_s, torch is not None)), flush=True)
    rec.raw["unrolled_ms"] = {str(k): v for k, v in ms.items()}
    rec.raw["unrolled_compile_s"] = {str(k): v for k, v in compile_s.items()}
    if torch is not None:
        for k in args.ks:
            rec.figure(f"torch_over_jax_k{k}", ms[k]["torch"] / ms[k]["loop"],
                       f"torch step time / JAX step time at k = {k}, JAX with the Python "
                       "loop (use_scan=False, the default); > 1: JAX is faster")  # fmt: skip
    top = max(args.ks)
    rec.figure(f"compile_s_k{top}", compile_s[top]["loop"],
               f"seconds to lower and compile the JAX step at k = {top} with the Python loop "
               "(use_scan=False, the default); lower is better")  # fmt: skip


def run_part_b(args, sizes: Sizes, torch, rec: common.Recorder) -> None:
    """Times (b) and adds its figure: sequential calls' time / the multiseed vmap's time."""
    print(f"(b) {sizes.seeds} seeds, gan_nonsaturating, batch {sizes.batch}: timing ...",
          flush=True)  # fmt: skip
    seed_ms = benchmark_seeds(args.repeats, args.steps, torch, sizes)
    flops, peak = gan_step_flops(sizes), matmul_peak_gflops(sizes.peak_n, args.repeats)
    print("\n".join(seeds_table(seed_ms, sizes, flops, peak)))
    rec.raw.update(seeds_ms=seed_ms, step_gflop=flops / 1e9, peak_gflops=peak)
    rec.figure("vmap_over_sequential", seed_ms[SEQUENTIAL] / seed_ms["vmap (multiseed)"],
               f"time of {sizes.seeds} sequential jitted single-seed steps / time of one "
               "vmapped multiseed step (genjax.train.make_multi_run_step); > 1: vmap is "
               "faster")  # fmt: skip
    if DEVICES in seed_ms:
        rec.figure(
            "vmap_devices_over_sequential",
            seed_ms[SEQUENTIAL] / seed_ms[DEVICES],
            f"time of {sizes.seeds} sequential jitted single-seed steps / time of one "
            f"multiseed step with the runs split over {jax.device_count()} devices "
            "(on a CPU, one per core: genjax.train.use_cpu_devices); > 1: faster",
        )


def main(argv: list[str] | None = None) -> dict:
    args = _parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.cpu_devices != 1:  # before any JAX operation
        try:
            train.use_cpu_devices(args.cpu_devices or None)
        except ValueError as e:  # main() called in a process where JAX has started
            print(f"CPU devices not split: {e}")
    rec = common.Recorder("gan_unrolled", {
        **dataclasses.asdict(sizes), "ks": args.ks, "repeats": args.repeats, "steps": args.steps,
        "parts": sorted(args.parts), "torch": not args.no_torch, "quick": args.quick,
        "cpu_devices": args.cpu_devices,
    })  # fmt: skip
    torch = None if args.no_torch else common.import_torch(args.torch_threads)
    if torch is None and not args.no_torch:
        print("PyTorch not installed (pip install genjax[bench]): no comparison")
    print(f"devices: {jax.devices()}")
    rec.raw["device_count"] = jax.device_count()
    if torch is not None:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
        check_k = max(1, min(args.ks))
        err = check_torch_gradients(torch, check_k, sizes)
        rec.raw["gradient_check"] = {"k": check_k, "relative_max_abs_diff": err}
        print(f"G gradient, JAX vs torch at k={check_k}: max abs diff / max abs = {err:.1e}")
    if "a" in args.parts:
        run_part_a(args, sizes, torch, rec)
    if "b" in args.parts:
        run_part_b(args, sizes, torch, rec)
    return rec.write(args.json)


if __name__ == "__main__":
    main()
