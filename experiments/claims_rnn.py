"""Claims 3.1-3.6 (recurrent networks): the four architectures (sequence_tasks), gradients
through time (rnn_gradients) and long-range tasks (long_range)."""

from __future__ import annotations

import math

from experiments.claims import Claim, Criterion

_BASE = 1.0 / 6.0  # adding problem: MSE of the input-ignoring predictor


def _tanh_criteria() -> tuple[Criterion, ...]:
    out = []
    for tag in ("0p5", "0p9", "1p0", "1p1", "1p5"):
        out.append(
            Criterion(
                f"tanh_rho{tag}_max_log_excess",
                "<=",
                1e-4,
                why="||dh_T/dh_k|| <= rho^(T-k) at every lag (tanh' <= 1)",
            )
        )
    for tag in ("0p5", "0p9"):
        out.append(
            Criterion(
                f"tanh_rho{tag}_log_grad_slope",
                ">",
                -0.05,
                minus=f"tanh_rho{tag}_log_rho",
                why="near-linear regime: vanishes at about log rho per step",
            )
        )
    out.append(Criterion("tanh_rho1p5_log_grad_slope", ">", 0.0, why="rho = 1.5 still explodes"))
    out.append(
        Criterion(
            "tanh_rho1p5_log_grad_slope",
            "<",
            -0.1,
            minus="tanh_rho1p5_log_rho",
            why="but saturation (1 - h^2 < 1) holds it well below log rho",
        )
    )
    return tuple(out)


CLAIMS: list[Claim] = [
    Claim(
        id="3.1",
        statement=(
            "Each architecture fits its task: many-to-one classifies MNIST read row by row "
            "(one layer and stacked), one-to-many spells a digit's name from its image, an "
            "aligned tagger uses the words after a word only when it is bidirectional, and "
            "an encoder-decoder adds numbers and reverses sequences; a many-to-many RNN "
            "predicts the next frame of Bach chorales and generates from a primer."
        ),
        experiment="sequence_tasks",
        criteria=(
            Criterion("row_mnist_test_accuracy", ">", 0.8, why="many-to-one; chance is 0.1"),
            Criterion(
                "row_mnist_stacked_test_accuracy",
                ">",
                0.8,
                why="the 2-layer LSTM trains beside the single layer",
            ),
            Criterion(
                "image_to_word_exact_match",
                ">",
                0.75,
                why="one-to-many: the whole name and its EOS, generated greedily",
            ),
            Criterion(
                "tagging_bi_accuracy",
                ">",
                0.2,
                minus="tagging_uni_accuracy",
                why="bidirectional clearly beats unidirectional on the same data",
            ),
            Criterion(
                "tagging_bi_ambiguous_accuracy",
                ">",
                0.9,
                why="it reads the next word for the future-dependent tags",
            ),
            Criterion(
                "tagging_uni_ambiguous_accuracy",
                "<",
                0.05,
                minus="tagging_causal_best_ambiguous_accuracy",
                why="left to right, no better than the best guess (chance 1/4) there",
            ),
            Criterion(
                "seq2seq_addition_exact_match",
                ">",
                0.2,
                why="held-out sums, far above guessing (< 0.02)",
            ),
            Criterion("seq2seq_reversal_exact_match", ">", 0.9, why="variable-length reversal"),
            Criterion(
                "row_mnist_test_accuracy",
                ">",
                0.95,
                profiles=("full",),
                why="full profile: 4,000 training digits",
            ),
            Criterion(
                "seq2seq_addition_exact_match",
                ">",
                0.9,
                profiles=("full",),
                why="full profile: 3-digit held-out sums",
            ),
            Criterion(
                "chorales_test_nll_per_step_selected",
                "<",
                -0.5,
                minus="chorales_test_nll_per_step_marginal",
                experiment="music",
                why="music: the RNN's next-frame NLL beats independent pitches by > 0.5 nats",
            ),
            Criterion(
                "test_nll_per_step_selected",
                "<",
                8.43,
                experiment="music_jsb",
                profiles=("full",),
                why="standard JSB test split: our best recurrent model (chosen on valid) below "
                "the best published recurrent (GRU, Bai 2018)",
            ),
        ),
        tests=(
            "tests/test_sequence_tasks.py",
            "tests/test_rnn_cells.py",
            "tests/test_music.py",
            "tests/test_music_jsb.py",
        ),
        figures=("examples.png", "training_curves.png"),
        notes=(
            "LSTMs, teacher forcing in training, greedy decoding at test, masking of padded "
            "steps by per-example lengths. Tagging: words 0-5 have tag word mod 4, words 6-11 "
            "take the next word's tag (0 at the end); tagging_causal_best_* is the best any "
            "left-to-right tagger can do on the test set. Addition: 1/16 of the (a, b) pairs "
            "(by a hash) never appear in training and are the test set; "
            "seq2seq_addition_seen_exact_match is on training problems. The quick profile "
            "(2-digit sums, a few hundred steps) only shows the addition model far above "
            "chance; flax's seq2seq example reaches 1.0 on 3-digit sums with a much larger "
            "budget (full profile). The stacked row-MNIST model is reported beside the "
            "single layer; at this budget neither is consistently ahead. Music "
            "(experiments.music): 88 Bernoulli pitch units per quarter-note frame, NLL in "
            "nats per time step; the cell is selected on the valid split; the baseline "
            "treats every pitch as an independent coin with its training frequency. Full "
            "profile on the standard JSB split; published: Boulanger-Lewandowski 2012 RNN "
            "8.71, Chung 2014 GRU 8.54 / LSTM 8.67, Bai 2018 LSTM 8.45 / GRU 8.43 (about "
            "300K parameters); Boulanger-Lewandowski 2012's RNN-RBM and RNN-NADE model the "
            "notes of a frame jointly (structured outputs), a different model class. The "
            "JSB target is judged on experiments.music_jsb (full profile only): it chooses "
            "the cell, the width and, by early stopping, the step count from a grid fixed "
            "in its config on the valid split alone (selection.json is written before the "
            "test split is read) and scores only the chosen model on the test split; "
            "music's own full profile compares the three cells at 1 layer and 6,000 steps "
            "on both datasets."
        ),
    ),
    Claim(
        id="3.2",
        statement="Hand-written BPTT for the tanh RNN with softmax cross-entropy equals autodiff.",
        experiment="rnn_gradients",
        criteria=(Criterion("bptt_max_abs_diff", "<", 1e-4, why="float32 agreement"),),
        tests=("tests/test_rnn_gradients.py",),
        notes=(
            "Both the O(T) recursion and the literal double sum of 3.2 are tested against jax.grad."
        ),
    ),
    Claim(
        id="3.3",
        statement=(
            "An RNN's dh_T/dh_k multiplies W_hh by itself, growing or shrinking like "
            "rho^(T-k); a product of independent matrices is not governed by rho."
        ),
        experiment="rnn_gradients",
        criteria=_tanh_criteria()
        + (
            Criterion(
                "tied_log_norm_slope",
                "<",
                0.01,
                minus="product_log_rho",
                why="tied product ||W^d|| grows at log rho",
            ),
            Criterion(
                "tied_log_norm_slope",
                ">",
                -0.01,
                minus="product_log_rho",
                why="tied product ||W^d|| grows at log rho",
            ),
            Criterion(
                "tied_vs_untied_log_norm_slope",
                "<",
                -0.02,
                why="untied products (same rho each) follow their Lyapunov exponent instead",
            ),
        ),
        tests=("tests/test_rnn_gradients.py",),
        figures=("grad_norms_vs_lag.png",),
        notes=(
            "W_hh = rho * orthogonal, inputs 0.1 N(0, I), H = 32. Slopes fitted on lags 1..30. "
            "For a linear RNN the norm is exactly rho^(T-k) (test). With tanh, rho = 1.1 gives "
            "a slope near 0 and rho = 1.5 a positive slope far below log rho: saturation tames "
            "explosion of dh_T/dh_k, which is why exploding gradients show up mostly in the "
            "transient/training dynamics. Tied vs untied: Gaussian 32x32 matrices rescaled to "
            "spectral radius 1."
        ),
    ),
    Claim(
        id="3.4",
        statement="Clipping the gradient by global norm prevents the divergence seen without it.",
        experiment="long_range",
        criteria=(
            Criterion(
                "adding_T50_sgd_tanh_diverged",
                ">",
                0.0,
                minus="adding_T50_sgd_tanh_diverged_clip",
                why="fewer of the SGD runs diverge with clipping",
            ),
            Criterion(
                "adding_T100_sgd_tanh_diverged",
                ">",
                0.0,
                minus="adding_T100_sgd_tanh_diverged_clip",
                profiles=("full",),
                why="T = 100: fewer diverge with clipping",
            ),
        ),
        tests=("tests/test_rnn_gradients.py",),
        notes=(
            "Plain SGD on the tanh RNN, seeds vmapped, clip c = 1. Diverged: non-finite loss "
            "or parameters at any step, or final test MSE > 2x the 1/6 baseline. Under Adam "
            "(the main comparison) divergences are counted too (..._diverged[_clip])."
        ),
    ),
    Claim(
        id="3.5",
        statement=(
            "Truncated BPTT with a window shorter than the dependency is biased against it: "
            "no gradient reaches the dependency, and the network learns it far worse than "
            "with full BPTT on the same data, though the uncut forward carry lets it learn "
            "part of it."
        ),
        experiment="tbptt_window",
        criteria=(
            Criterion(
                "covering_test_mse",
                "<",
                0.1 * _BASE,
                why="control: full BPTT (window 40 = T) on the same data and starts solves it",
            ),
            Criterion(
                "short_marker_weight_change_max",
                "<=",
                0.0,
                why="windows 5, 10, 20 < every lag: the weights that read the marker never "
                "move from their initialisation (no gradient reaches a marker)",
            ),
            Criterion(
                "covering_marker_weight_change_min",
                ">",
                0.0,
                why="while full BPTT trains them",
            ),
            Criterion(
                "short_over_covering_log10",
                ">",
                1.0,
                why="the short windows' median MSE is over 10x full BPTT's",
            ),
            Criterion(
                "short_test_mse",
                "<",
                0.9 * _BASE,
                profiles=("full",),
                why="yet not unable: the short windows' median run explains over a tenth "
                "of the target's variance",
            ),
        ),
        tests=("tests/test_rnn_gradients.py", "tests/test_tbptt_window.py"),
        figures=("window_sweep.png",),
        notes=(
            "Originally stated as: 'Truncated BPTT with a window shorter than the dependency "
            "cannot learn it.' Restated because the evidence does not support 'cannot': on "
            "the adding problem with both markers 30-39 steps before the end (T = 40, "
            "tasks.adding_batch(min_lag=30, max_lag=39)), LSTMs trained with windows 5, 10 "
            "and 20 from the same initialisations and batches as full BPTT end well above "
            "full BPTT but below the 1/6 baseline, some below the 1/12 line of knowing one "
            "addend (docs/results/rnn.md sets the two statements side by side). "
            "The gradient is cut, the forward carry is not: the marked values still reach "
            "the last window, and its gradient trains the weights every step uses. "
            "Truncation biases learning toward short dependencies (Tallec and Ollivier "
            "2017). Forget-gate bias 3 in every run, Adam, clipping at 1; seeds vmapped."
        ),
    ),
    Claim(
        id="3.6",
        statement=(
            "The LSTM's cell path carries gradient over long lags, and on the adding problem "
            "the LSTM and GRU succeed where the tanh RNN fails: at T = 50 without gradient "
            "clipping, and at T = 100 with or without it."
        ),
        experiment="long_range",
        criteria=(
            Criterion(
                "lstm_grad_ratio_lag50",
                ">",
                100.0,
                experiment="rnn_gradients",
                why="at initialisation (forget bias 3) the LSTM keeps far more gradient at lag "
                "50 than the tanh RNN",
            ),
            Criterion("adding_T50_lstm_test_mse", "<", 0.1 * _BASE, why="LSTM solves it"),
            Criterion("adding_T50_gru_test_mse", "<", 0.1 * _BASE, why="GRU solves it"),
            Criterion(
                "adding_T50_lstm_test_mse_clip", "<", 0.1 * _BASE, why="... and with clipping"
            ),
            Criterion(
                "adding_T50_gru_test_mse_clip", "<", 0.1 * _BASE, why="... and with clipping"
            ),
            Criterion(
                "adding_T50_tanh_test_mse",
                ">",
                0.5 * _BASE,
                why="tanh RNN without clipping stays near the 1/6 baseline",
            ),
            Criterion(
                "adding_T100_lstm_test_mse",
                "<",
                0.1 * _BASE,
                profiles=("full",),
                why="T = 100: LSTM solves it",
            ),
            Criterion(
                "adding_T100_gru_test_mse",
                "<",
                0.1 * _BASE,
                profiles=("full",),
                why="T = 100: GRU solves it",
            ),
            Criterion(
                "adding_T100_tanh_test_mse",
                ">",
                0.5 * _BASE,
                profiles=("full",),
                why="T = 100: the tanh RNN fails without clipping",
            ),
            Criterion(
                "adding_T100_tanh_test_mse_clip",
                ">",
                0.5 * _BASE,
                profiles=("full",),
                why="T = 100: the tanh RNN fails even with clipping",
            ),
        ),
        tests=(
            "tests/test_rnn_gradients.py",
            "tests/test_rnn_cells.py",
            "tests/test_claims_fail.py",
        ),
        notes=(
            f"Baseline MSE 1/6 = {_BASE:.3f}. lstm_grad_ratio_lag50 (rnn_gradients): "
            "||d s_T/d s_{T-50}|| of an LSTM (forget bias 3) over ||dh_T/dh_{T-50}|| of a "
            "tanh RNN with rho = 1, same N(0, I) inputs, both at initialisation: it measures "
            "what the architecture and its forget-gate bias provide before training (with "
            "forget bias 0 the ratio is below 1, tests/test_claims_fail.py), not what "
            "training does with it; the trained networks show their use of long lags on the "
            "adding problem, whose runs keep no checkpoints to measure Jacobians on. "
            "Clipping: the tanh RNN with clipping is in the comparison. At T = 50 it learns "
            "the task in the full profile's 3,000 steps: adding_T50_tanh_test_mse_clip, the "
            "median over 5 seeds, lies below the 0.1/6 line the LSTM and GRU are held to, and "
            "its worst seed (_worst) far below the 1/6 baseline; not so in the quick "
            "profile's 400 steps. So the tanh RNN's failure at "
            "T = 50 is claimed without clipping only, and the claim that clipping does not "
            "rescue it rests on T = 100. Bai et al. "
            "2018 at T = 600: LSTM 0.164, tanh RNN 0.177, GRU 5.3e-5 (full profile only). The "
            f"copy task (full profile) has memoryless baseline 10 log 8 / (T + 20), log 8 = "
            f"{math.log(8):.3f}."
        ),
    ),
]
